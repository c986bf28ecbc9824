import Foundation
import Imaging
import MedSAM

/// Draws label masks (translucent fill, solid contour), boxes and points over an 8-bit image.
public enum Overlay {
    /// Label colours (label k uses `palette[(k − 1) % count]`).
    public static let palette: [(UInt8, UInt8, UInt8)] = [
        (255, 64, 64), (64, 200, 255), (255, 210, 0), (80, 230, 80), (230, 90, 255),
        (255, 140, 30), (0, 220, 180), (255, 120, 200), (160, 160, 255), (190, 255, 90),
    ]

    /// - Parameters:
    ///   - image: 8-bit gray or RGB image.
    ///   - labels: `width·height` labels (0 = background).
    ///   - boxes: drawn in the colour of label `index + 1`.
    /// - Returns: an 8-bit RGB image.
    public static func render(image: Image, labels: [UInt16], boxes: [Box], points: [Point] = [], alpha: Double = 0.45) throws -> Image {
        let (w, h) = (image.width, image.height)
        let rgb = image.threeChannel().pixels
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h * 3) { out[i] = UInt8(max(0, min(255, rgb[i]))) }
        func color(_ label: Int) -> (UInt8, UInt8, UInt8) { palette[(label - 1) % palette.count] }
        func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, y >= 0, x < w, y < h else { return }
            let o = 3 * (y * w + x)
            out[o] = c.0; out[o + 1] = c.1; out[o + 2] = c.2
        }
        if labels.count == w * h {
            for y in 0..<h { for x in 0..<w {
                let l = Int(labels[y * w + x])
                guard l > 0 else { continue }
                let c = color(l)
                let edge = x == 0 || y == 0 || x == w - 1 || y == h - 1
                    || labels[y * w + x - 1] != labels[y * w + x] || labels[y * w + x + 1] != labels[y * w + x]
                    || labels[(y - 1) * w + x] != labels[y * w + x] || labels[(y + 1) * w + x] != labels[y * w + x]
                if edge { set(x, y, c); continue }
                let o = 3 * (y * w + x)
                for (j, v) in [c.0, c.1, c.2].enumerated() {
                    out[o + j] = UInt8((1 - alpha) * Double(out[o + j]) + alpha * Double(v))
                }
            } }
        }
        let thickness = max(1, min(w, h) / 256)
        for (k, b) in boxes.enumerated() {
            let c = color(k + 1)
            let x0 = Int(b.x0.rounded()), y0 = Int(b.y0.rounded())
            let x1 = min(w - 1, Int(b.x1.rounded())), y1 = min(h - 1, Int(b.y1.rounded()))
            for t in 0..<thickness {
                for x in x0...max(x0, x1) { set(x, y0 + t, c); set(x, y1 - t, c) }
                for y in y0...max(y0, y1) { set(x0 + t, y, c); set(x1 - t, y, c) }
            }
        }
        let r = max(2, min(w, h) / 128)
        for p in points {
            let (px, py) = (Int(p.x.rounded()), Int(p.y.rounded()))
            let c: (UInt8, UInt8, UInt8) = p.positive ? (0, 255, 0) : (255, 0, 0)
            for dy in -r...r { for dx in -r...r {
                let ring = max(abs(dx), abs(dy)) == r
                set(px + dx, py + dy, ring ? (255, 255, 255) : c)
            } }
        }
        return try Image(uint8: out, width: w, height: h, channels: 3)
    }
}
