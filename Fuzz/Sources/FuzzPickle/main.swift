import FuzzSupport

// The input is a `data.pkl`: wrapped in a valid torch.save ZIP (with storages `0…3`) and loaded.
Fuzz.main { input in
    let zip = Fuzz.storedZip([("archive/data.pkl", Array(input))] + Fuzz.storages)
    zip.withUnsafeBytes { Fuzz.loadCheckpoint(Fuzz.file($0)) }
}
