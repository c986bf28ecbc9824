import Foundation
import FuzzSupport
import MedicalIO

Fuzz.main { input in
    let d = Data(input)
    Fuzz.medicalIO { Fuzz.blackHole(try JPEGFile.decode(d, limits: Fuzz.limits)) }
}
