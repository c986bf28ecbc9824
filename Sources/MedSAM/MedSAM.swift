// MedSAM target.
