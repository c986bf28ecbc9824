import ImageEncoder
import NN
import Preprocess

extension ModelVariant {
    /// MedSAM: SAM's ViT image encoder (B; L and H load too, read from the checkpoint's patch embedding) with
    /// SAM's prompt encoder and mask decoder, 1024×1024 input, `MedSAM_Inference.py` geometry (cubic resize of
    /// the whole image, boxes scaled per axis, bilinear upsampling of the logits).
    ///
    /// - Parameter configuration: the ViT configuration; nil reads B/L/H from the checkpoint. Pass one for
    ///   generated weights or reduced test models.
    public static func medSAM(configuration: ImageEncoderViT.Configuration? = nil) -> ModelVariant {
        ModelVariant(
            kind: .medSAM, aliases: ["medsam-vit-b", "vit-b"],
            summary: "MedSAM (SAM ViT-B fine-tuned on medical images), 1024×1024 input; needs --checkpoint medsam_vit_b.pth",
            checkpointHint: "download medsam_vit_b.pth from the MedSAM authors (github.com/bowang-lab/MedSAM, 'Model checkpoints') and pass it with --checkpoint",
            recognizes: { $0.contains("image_encoder.patch_embed.proj.weight") },
            build: { loader in
                var cfg = configuration ?? .vitB
                if configuration == nil, let shape = loader.source.shape(of: "image_encoder.patch_embed.proj.weight") {
                    switch shape.first {
                    case 1024: cfg = .vitL
                    case 1280: cfg = .vitH
                    default: cfg = .vitB
                    }
                }
                let encoder = try ImageEncoderViT(loader.scope("image_encoder", precision: loader.encoderPrecision), configuration: cfg)
                return try ModelParts.sam(encoder: encoder, loader: loader)
            },
            frame: { w, h, size in MedSAMTransform(originalHeight: h, originalWidth: w, imageSize: size) })
    }
}
