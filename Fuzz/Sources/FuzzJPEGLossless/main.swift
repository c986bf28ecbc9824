import Foundation
import FuzzSupport
import MedicalIO

// The package's own lossless JPEG decoder (DICOM 1.2.840.10008.1.2.4.57/.70) on raw JPEG streams.
// Seeds: the fragments of Fixtures/io/dicom/codec/*_jpegll_*.dcm and Fixtures/corpus/dicom/jpegll_*.dcm.
Fuzz.main { input in
    let bytes = [UInt8](input)
    Fuzz.medicalIO { Fuzz.blackHole(try JPEGLossless.decode(bytes, limits: Fuzz.limits).samples.count) }
}
