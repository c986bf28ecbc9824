import FuzzSupport

// The input is a safetensors file (StateDict sniffs the format).
Fuzz.main { input in Fuzz.loadCheckpoint(Fuzz.file(input)) }
