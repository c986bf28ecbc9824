import Foundation
import FuzzSupport
import MedicalIO

// `.npz` archives, then the CVPR24 challenge-case view of them (2-D and 3-D names).
Fuzz.main { input in
    let d = Data(input)
    Fuzz.medicalIO {
        let npz = try NPZArchive.parse(d, limits: Fuzz.limits)
        for name in ["2DCT_case.npz", "3DBox_case.npz"] {
            Fuzz.medicalIO {
                let c = try ChallengeCase(npz, name: name)
                if c.is3D {
                    _ = try c.boxes3D()
                    _ = try c.slice(0)
                } else {
                    _ = try c.boxes2D()
                    _ = try c.image2D()
                }
            }
        }
    }
}
