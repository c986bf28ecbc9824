import Foundation
import FuzzSupport
import MedicalIO

Fuzz.main { input in
    let d = Data(input)
    Fuzz.medicalIO {
        let a = try NPYArray.parse(d, limits: Fuzz.limits)
        Fuzz.blackHole(a.doubles().reduce(0, +))
        _ = try? a.ints()
        _ = try? a.uint8s()
        let back = try NPYArray.parse(a.npyData())
        precondition(back == a, "NPY write/read round trip differs")
    }
}
