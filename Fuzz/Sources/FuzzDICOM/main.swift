import Foundation
import FuzzSupport
import MedicalIO

Fuzz.useDICOMValueMutator()
Fuzz.main { input in
    let d = Data(input)
    Fuzz.medicalIO {
        let img = try DICOMImage.parse(d, limits: Fuzz.limits)
        Fuzz.medicalIO { Fuzz.blackHole(try img.frame(0)) }
    }
}
