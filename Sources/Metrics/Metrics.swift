// Metrics target.
