import FuzzSupport

// The input is a whole checkpoint file (torch.save ZIP + pickle; anything StateDict sniffs).
Fuzz.main { input in Fuzz.loadCheckpoint(Fuzz.file(input)) }
