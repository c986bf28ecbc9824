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
            recognizes: { $0.contains("image_encoder.patch_embed.seq.0.c.weight") },
            build: { loader in
                let encoder = try TinyViT(loader.scope("image_encoder", precision: loader.encoderPrecision), configuration: configuration)
                return try ModelParts.sam(encoder: encoder, loader: loader)
            },
            frame: { w, h, size in LiteMedSAMTransform(originalHeight: h, originalWidth: w, imageSize: size) })
    }
}
