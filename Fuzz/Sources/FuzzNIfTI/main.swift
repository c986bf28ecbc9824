import Foundation
import FuzzSupport
import MedicalIO

Fuzz.main { input in
    let d = Data(input)
    Fuzz.medicalIO {
        let n = try NIfTIImage.parse(d, limits: Fuzz.limits)
        Fuzz.medicalIO { Fuzz.blackHole(try n.axialSlice(0)) }
    }
}
