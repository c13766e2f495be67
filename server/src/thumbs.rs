//! Thumbnails of pictures (extension `files`): made on the server, so that a browser shows a
//! small picture inline and fetches the original only on a click, and so that no client
//! decodes an image bomb meant for it.
//!
//! Decoding is bounded before it begins: the dimensions are read from the header and refused
//! past [`MAX_SIDE`] or [`MAX_PIXELS`] (a few hundred bytes of PNG can announce 100,000 ×
//! 100,000 pixels), and the decoder's own allocation limit stays at [`MAX_DECODE_BYTES`].

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

/// A thumbnail fits a square of this many pixels, its proportions kept: a chat column's
/// width on a phone.
pub const THUMB_SIDE: u32 = 320;

/// Longest side of a picture that gets a thumbnail: a 50-megapixel camera's is 8,660.
pub const MAX_SIDE: u32 = 12_000;

/// Most pixels of a picture that gets a thumbnail (a 64-megapixel camera's photo); at four
/// bytes a pixel, decoding it takes 256 MiB for a moment, on the blocking pool.
pub const MAX_PIXELS: u64 = 64_000_000;

/// The decoder's allocation limit: the largest picture's pixels, and a margin.
pub const MAX_DECODE_BYTES: u64 = 4 * MAX_PIXELS + (16 << 20);

/// Why a picture has no thumbnail (it is then shown as a download card).
#[derive(Debug, thiserror::Error)]
pub enum ThumbError {
    /// Larger than a thumbnail is made of.
    #[error(
        "the picture is {width} x {height} pixels; thumbnails are made of pictures up to {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels"
    )]
    TooLarge {
        /// Its width as its header gives it.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// The decoder's limits refused it (its header announced more than they allow).
    #[error(
        "the picture is larger than thumbnails are made of (up to {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels)"
    )]
    OverLimits,
    /// Not a picture the decoders read, or a broken one.
    #[error("the picture cannot be read: {0}")]
    Unreadable(String),
}

impl From<image::ImageError> for ThumbError {
    fn from(e: image::ImageError) -> Self {
        match e {
            image::ImageError::Limits(_) => ThumbError::OverLimits,
            e => ThumbError::Unreadable(e.to_string()),
        }
    }
}

/// A thumbnail of the picture `bytes` (of type `kind`, as sniffed): a PNG if the picture has
/// transparency, else a JPEG, at most [`THUMB_SIDE`] pixels a side. Blocking (decoding
/// takes milliseconds to a second): run it on the blocking pool.
pub fn thumbnail(bytes: &[u8], kind: &str) -> Result<(Vec<u8>, &'static str), ThumbError> {
    let format = match kind {
        "image/png" => ImageFormat::Png,
        "image/jpeg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::WebP,
        other => return Err(ThumbError::Unreadable(format!("{other} is not a picture"))),
    };
    let reader = || {
        let mut r = ImageReader::with_format(Cursor::new(bytes), format);
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        r.limits(limits);
        r
    };
    // The header alone first: a bomb is refused before any pixel is decoded.
    let (width, height) = reader().into_dimensions()?;
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ThumbError::TooLarge { width, height });
    }
    let picture = reader().decode()?;
    // Re-encoded even when it is small already: the thumbnail carries pixels, nothing else
    // the original held.
    let small = if width <= THUMB_SIDE && height <= THUMB_SIDE {
        picture
    } else {
        picture.thumbnail(THUMB_SIDE, THUMB_SIDE)
    };
    let mut out = Cursor::new(Vec::new());
    if small.color().has_alpha() {
        DynamicImage::ImageRgba8(small.to_rgba8()).write_to(&mut out, ImageFormat::Png)?;
        Ok((out.into_inner(), "image/png"))
    } else {
        DynamicImage::ImageRgb8(small.to_rgb8()).write_to(&mut out, ImageFormat::Jpeg)?;
        Ok((out.into_inner(), "image/jpeg"))
    }
}

/// A PNG's signature, IHDR (8-bit grey, `width` x `height`), an empty IDAT and IEND: a
/// picture of a few dozen bytes that announces as many pixels as asked, which is how image
/// bombs look. For tests (here and against the server).
#[doc(hidden)]
pub fn header_only_png(width: u32, height: u32) -> Vec<u8> {
    fn crc(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for b in bytes {
            c ^= u32::from(*b);
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let sum = crc(&out[start..]);
        out.extend_from_slice(&sum.to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // An empty zlib stream: the pixels themselves are never reached.
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0, 0, 0, 0, 1]);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{RgbImage, RgbaImage};

    fn png(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        if alpha {
            RgbaImage::from_fn(width, height, |x, y| image::Rgba([x as u8, y as u8, 0, 128]))
                .write_to(&mut out, ImageFormat::Png)
                .expect("png");
        } else {
            RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 200]))
                .write_to(&mut out, ImageFormat::Png)
                .expect("png");
        }
        out.into_inner()
    }

    #[test]
    fn a_photo_becomes_a_small_jpeg_in_proportion() {
        let (thumb, kind) = thumbnail(&png(1600, 800, false), "image/png").expect("thumbnail");
        assert_eq!(kind, "image/jpeg");
        assert_eq!(crate::files::sniff(&thumb), "image/jpeg");
        let small = image::load_from_memory(&thumb).expect("decodes");
        assert_eq!((small.width(), small.height()), (THUMB_SIDE, THUMB_SIDE / 2));
        // Transparency is kept, as a PNG; a small picture is not enlarged.
        let (thumb, kind) = thumbnail(&png(100, 60, true), "image/png").expect("thumbnail");
        assert_eq!(kind, "image/png");
        let small = image::load_from_memory(&thumb).expect("decodes");
        assert_eq!((small.width(), small.height()), (100, 60));
    }

    #[test]
    fn a_bomb_is_refused_from_its_header() {
        // A PNG that announces 100,000 x 100,000 pixels: a valid header, 65 bytes in all.
        let bytes = header_only_png(100_000, 100_000);
        let refused = thumbnail(&bytes, "image/png").expect_err("refused");
        assert!(matches!(refused, ThumbError::OverLimits), "{refused}");
        // Within each side's limit, over the pixels' limit.
        let refused =
            thumbnail(&header_only_png(10_000, 10_000), "image/png").expect_err("refused");
        assert!(
            matches!(refused, ThumbError::TooLarge { width: 10_000, height: 10_000 }),
            "{refused}"
        );
        // Not a picture, or lying about being one.
        assert!(thumbnail(b"<svg></svg>", "image/png").is_err());
        assert!(thumbnail(&png(10, 10, false), "application/pdf").is_err());
    }
}
