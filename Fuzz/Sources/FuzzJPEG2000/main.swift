import Foundation
import FuzzSupport
import MedicalIO

// One encapsulated DICOM frame through DICOMCodec (1.2.840.10008.1.2.4.90). The first 2 bytes choose the layout the header
// would give (rows, columns 1…64, 1 or 3 samples, 8 or 16 bits); the rest is the compressed frame.
Fuzz.main { input in
    let bytes = [UInt8](input)
    guard bytes.count >= 2 else { return }
    let layout = DICOMCodec.Layout(rows: Int(bytes[0] & 63) + 1, columns: Int(bytes[1] & 63) + 1,
                                   samplesPerPixel: bytes[0] & 64 != 0 ? 3 : 1, bitsAllocated: bytes[0] & 128 != 0 ? 16 : 8,
                                   bitsStored: bytes[0] & 128 != 0 ? 12 + Int(bytes[1] >> 6) : 8, signed: bytes[1] & 64 != 0,
                                   photometric: bytes[0] & 64 != 0 ? "RGB" : "MONOCHROME2")
    Fuzz.medicalIO {
        Fuzz.blackHole(try DICOMCodec.decodeFrame(Array(bytes.dropFirst(2)), transferSyntaxUID: "1.2.840.10008.1.2.4.90", layout: layout,
                                                  limits: Fuzz.limits).count)
    }
}
