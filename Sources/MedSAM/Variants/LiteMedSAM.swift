import ImageEncoder
import NN
import Preprocess

extension ModelVariant {
    /// LiteMedSAM: the TinyViT image encoder with SAM's prompt encoder and mask decoder, 256×256 input,
    /// `CVPR24_LiteMedSAM_infer.py` geometry (longest side to 256 with INTER_AREA, zero padding, boxes scaled by
    /// the longest side and truncated, logits cropped and upsampled), with 3-D slice propagation.
    public static func liteMedSAM(configuration: TinyViT.Configuration = .liteMedSAM) -> ModelVariant {
        ModelVariant(
            kind: .liteMedSAM, aliases: ["litemedsam", "lite-medsam"],
            summary: "LiteMedSAM (TinyViT encoder), 256×256 input; its checkpoint is fetched by scripts/fetch-checkpoints.sh",
            cachedCheckpointName: "lite_medsam.pth",
            checkpointHint: "get it with `bash scripts/fetch-checkpoints.sh` or pass --checkpoint PATH",
            supportsVolumePropagation: true,
            precisionPolicy: .liteMedSAM,
            recognizes: { $0.contains("image_encoder.patch_embed.seq.0.c.weight") },
            build: { loader in
                let encoder = try TinyViT(loader.scope("image_encoder", precision: loader.encoderPrecision), configuration: configuration)
                return try ModelParts.sam(encoder: encoder, loader: loader)
            },
            frame: { w, h, size in LiteMedSAMTransform(originalHeight: h, originalWidth: w, imageSize: size) })
    }
}

extension PrecisionPolicy {
    /// LiteMedSAM's measured policy (docs/precision.md, `ReducedPrecisionAccuracyTests`): under bf16 the six
    /// TinyViT blocks of stage 2 (`layers.2`, 160 channels at 64×64 tokens) keep fp32 — with them in bf16 the worst
    /// of the 32 real targets reaches only 0.986 Dice against fp32, with them in fp32 0.995 (stage 1 or stage 3
    /// kept instead: 0.986). int8 reduces every Linear layer: no layer group brings it to the gate (stages 2 and 3
    /// both kept fp32 still leave a target at 0.985) while each group kept costs most of its speed.
    public static let liteMedSAM = PrecisionPolicy(keepFP32: [.bf16: ["image_encoder.layers.2.*"]])
}
