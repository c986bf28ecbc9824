import FuzzSupport

// One encapsulated DICOM frame through DICOMCodec (1.2.840.10008.1.2.4.80); 2 layout bytes, then the frame (Fuzz.decodeFrame).
Fuzz.main { input in Fuzz.decodeFrame(input, transferSyntaxUID: "1.2.840.10008.1.2.4.80") }
