//! Pixel format conversion: I420 for the codec, RGBA for the screen, and
//! camera formats (RGB/BGR/RGBA, YUYV, NV12, grey) to I420.
//!
//! All maths is integer BT.601 limited range (what VP8 and webcams use), done
//! row by row with no per-pixel floats or allocation on the hot path.

use super::error::{MediaError, Result};
use super::frame::{chroma_size, VideoFrame};

#[inline(always)]
fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

#[inline(always)]
fn chroma_terms(u: u8, v: u8) -> (i32, i32, i32) {
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    (409 * e + 128, -100 * d - 208 * e + 128, 516 * d + 128)
}

#[inline(always)]
fn put_pixel(px: &mut [u8], y: u8, r_c: i32, g_c: i32, b_c: i32) {
    let yy = 298 * (y as i32 - 16);
    px[0] = clamp_u8((yy + r_c) >> 8);
    px[1] = clamp_u8((yy + g_c) >> 8);
    px[2] = clamp_u8((yy + b_c) >> 8);
    px[3] = 255;
}

/// Converts an I420 frame to RGBA (alpha 255) into `out`, which must hold
/// exactly `width * height * 4` bytes.
pub fn i420_to_rgba(frame: &VideoFrame, out: &mut [u8]) -> Result<()> {
    frame.validate()?;
    let (w, h) = (frame.width as usize, frame.height as usize);
    if out.len() != w * h * 4 {
        return Err(MediaError::InvalidInput(format!(
            "RGBA buffer is {} bytes, need {}",
            out.len(),
            w * h * 4
        )));
    }
    let cw = frame.chroma_width();
    for (row, out_row) in out.chunks_exact_mut(w * 4).enumerate() {
        let y_row = &frame.y[row * w..row * w + w];
        let c = (row / 2) * cw;
        let u_row = &frame.u[c..c + cw];
        let v_row = &frame.v[c..c + cw];
        // Two pixels share one chroma sample: compute chroma terms once.
        // Zipped exact chunks let the compiler drop bounds checks.
        let pairs = out_row
            .chunks_exact_mut(8)
            .zip(y_row.chunks_exact(2))
            .zip(u_row.iter().zip(v_row));
        for ((px, ys), (&u, &v)) in pairs {
            let (r_c, g_c, b_c) = chroma_terms(u, v);
            put_pixel(&mut px[..4], ys[0], r_c, g_c, b_c);
            put_pixel(&mut px[4..], ys[1], r_c, g_c, b_c);
        }
        if w % 2 == 1 {
            let (r_c, g_c, b_c) = chroma_terms(u_row[cw - 1], v_row[cw - 1]);
            put_pixel(&mut out_row[(w - 1) * 4..], y_row[w - 1], r_c, g_c, b_c);
        }
    }
    Ok(())
}

/// Allocating convenience wrapper around [`i420_to_rgba`].
pub fn i420_to_rgba_vec(frame: &VideoFrame) -> Result<Vec<u8>> {
    let mut out = vec![0u8; frame.width as usize * frame.height as usize * 4];
    i420_to_rgba(frame, &mut out)?;
    Ok(out)
}

/// Byte layout of a packed RGB-family picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RgbLayout {
    Rgb24,
    Bgr24,
    Rgba32,
    /// Blue, green, red and an unused byte (X11's 24- and 32-bit pictures).
    Bgrx32,
}

impl RgbLayout {
    fn bytes_per_pixel(self) -> usize {
        match self {
            RgbLayout::Rgb24 | RgbLayout::Bgr24 => 3,
            RgbLayout::Rgba32 | RgbLayout::Bgrx32 => 4,
        }
    }
}

#[inline(always)]
fn rgb_to_y(r: i32, g: i32, b: i32) -> u8 {
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}

fn check_len(what: &str, got: usize, need: usize) -> Result<()> {
    if got < need {
        return Err(MediaError::InvalidInput(format!(
            "{what} buffer is {got} bytes, need {need}"
        )));
    }
    Ok(())
}

/// Packed RGB/BGR/RGBA (tightly packed rows) to I420. Chroma is the average
/// of each 2x2 block.
pub fn rgb_to_i420(
    data: &[u8],
    width: u32,
    height: u32,
    layout: RgbLayout,
    capture_us: u64,
) -> Result<VideoFrame> {
    let (w, h) = (width as usize, height as usize);
    let bpp = layout.bytes_per_pixel();
    check_len("RGB", data.len(), w * h * bpp)?;
    let mut f = VideoFrame::black(width, height, capture_us);
    f.validate()?;
    let (ri, bi) = match layout {
        RgbLayout::Bgr24 | RgbLayout::Bgrx32 => (2, 0),
        _ => (0, 2),
    };
    let px = |x: usize, y: usize| {
        let o = (y * w + x) * bpp;
        (data[o + ri] as i32, data[o + 1] as i32, data[o + bi] as i32)
    };
    for y in 0..h {
        let row = &data[y * w * bpp..(y + 1) * w * bpp];
        for (x, p) in row.chunks_exact(bpp).enumerate() {
            f.y[y * w + x] = rgb_to_y(p[ri] as i32, p[1] as i32, p[bi] as i32);
        }
    }
    let (cw, ch) = chroma_size(width, height);
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut r, mut g, mut b, mut n) = (0, 0, 0, 0);
            for (x, y) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (sx, sy) = (cx * 2 + x, cy * 2 + y);
                if sx < w && sy < h {
                    let (pr, pg, pb) = px(sx, sy);
                    r += pr;
                    g += pg;
                    b += pb;
                    n += 1;
                }
            }
            let (r, g, b) = (r / n, g / n, b / n);
            f.u[cy * cw + cx] = clamp_u8(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
            f.v[cy * cw + cx] = clamp_u8(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
        }
    }
    Ok(f)
}

/// Packed YUYV 4:2:2 (Y0 U Y1 V) to I420; chroma rows are averaged in pairs.
pub fn yuyv_to_i420(data: &[u8], width: u32, height: u32, capture_us: u64) -> Result<VideoFrame> {
    let (w, h) = (width as usize, height as usize);
    if w % 2 != 0 {
        return Err(MediaError::Unsupported("YUYV with odd width".into()));
    }
    check_len("YUYV", data.len(), w * h * 2)?;
    let mut f = VideoFrame::black(width, height, capture_us);
    f.validate()?;
    let cw = w / 2;
    for y in 0..h {
        let row = &data[y * w * 2..(y + 1) * w * 2];
        for (x2, q) in row.chunks_exact(4).enumerate() {
            f.y[y * w + x2 * 2] = q[0];
            f.y[y * w + x2 * 2 + 1] = q[2];
        }
    }
    for cy in 0..h.div_ceil(2) {
        let r0 = &data[cy * 2 * w * 2..(cy * 2 + 1) * w * 2];
        let y1 = (cy * 2 + 1).min(h - 1);
        let r1 = &data[y1 * w * 2..(y1 + 1) * w * 2];
        for cx in 0..cw {
            f.u[cy * cw + cx] = (r0[cx * 4 + 1] as u16 + r1[cx * 4 + 1] as u16).div_ceil(2) as u8;
            f.v[cy * cw + cx] = (r0[cx * 4 + 3] as u16 + r1[cx * 4 + 3] as u16).div_ceil(2) as u8;
        }
    }
    Ok(f)
}

/// NV12 (Y plane, then interleaved UV at half resolution) to I420.
pub fn nv12_to_i420(data: &[u8], width: u32, height: u32, capture_us: u64) -> Result<VideoFrame> {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = chroma_size(width, height);
    check_len("NV12", data.len(), w * h + cw * ch * 2)?;
    let mut f = VideoFrame::black(width, height, capture_us);
    f.validate()?;
    f.y.copy_from_slice(&data[..w * h]);
    for (i, uv) in data[w * h..w * h + cw * ch * 2].chunks_exact(2).enumerate() {
        f.u[i] = uv[0];
        f.v[i] = uv[1];
    }
    Ok(f)
}

/// 8-bit grey to I420 (neutral chroma).
pub fn gray_to_i420(data: &[u8], width: u32, height: u32, capture_us: u64) -> Result<VideoFrame> {
    let n = width as usize * height as usize;
    check_len("grey", data.len(), n)?;
    let mut f = VideoFrame::black(width, height, capture_us);
    f.validate()?;
    f.y.copy_from_slice(&data[..n]);
    Ok(f)
}

/// Luma (BT.601) of an RGBA picture, e.g. a screenshot, for marker reading.
pub fn rgba_to_luma(rgba: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let n = width as usize * height as usize;
    check_len("RGBA", rgba.len(), n * 4)?;
    Ok(rgba[..n * 4]
        .chunks_exact(4)
        .map(|p| rgb_to_y(p[0] as i32, p[1] as i32, p[2] as i32))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_round_trip_is_close() {
        let (w, h) = (8u32, 6u32);
        let mut rgb = Vec::new();
        for i in 0..(w * h) {
            // Smooth colours: 2x2 chroma averaging then loses little.
            rgb.extend_from_slice(&[200, 100 + (i % 4) as u8, 50]);
        }
        let f = rgb_to_i420(&rgb, w, h, RgbLayout::Rgb24, 7).unwrap();
        assert_eq!(f.capture_us, 7);
        let back = i420_to_rgba_vec(&f).unwrap();
        for (a, b) in rgb.chunks(3).zip(back.chunks(4)) {
            for c in 0..3 {
                assert!((a[c] as i32 - b[c] as i32).abs() <= 4, "{a:?} vs {b:?}");
            }
            assert_eq!(b[3], 255);
        }
    }

    #[test]
    fn limited_range_extremes() {
        let mut f = VideoFrame::black(2, 2, 0);
        assert_eq!(i420_to_rgba_vec(&f).unwrap()[..4], [0, 0, 0, 255]);
        f.y.fill(235);
        assert_eq!(i420_to_rgba_vec(&f).unwrap()[..4], [255, 255, 255, 255]);
        // Odd width: the last column has its own chroma sample.
        let mut odd = VideoFrame::black(3, 3, 0);
        odd.y.fill(235);
        assert!(i420_to_rgba_vec(&odd).unwrap().iter().all(|&b| b == 255));
        odd.y[8] = 16;
        assert_eq!(i420_to_rgba_vec(&odd).unwrap()[32..], [0, 0, 0, 255]);
    }

    #[test]
    fn yuyv_and_nv12_unpack() {
        // 2x2 YUYV: rows (10,U=100,20,V=200) and (30,U=110,40,V=210).
        let yuyv = [10, 100, 20, 200, 30, 110, 40, 210];
        let f = yuyv_to_i420(&yuyv, 2, 2, 0).unwrap();
        assert_eq!(f.y, vec![10, 20, 30, 40]);
        assert_eq!((f.u[0], f.v[0]), (105, 205));
        let nv12 = [1, 2, 3, 4, 50, 60];
        let f = nv12_to_i420(&nv12, 2, 2, 0).unwrap();
        assert_eq!(f.y, vec![1, 2, 3, 4]);
        assert_eq!((f.u[0], f.v[0]), (50, 60));
    }

    #[test]
    fn short_buffers_are_errors_not_panics() {
        assert!(rgb_to_i420(&[0; 5], 2, 2, RgbLayout::Rgba32, 0).is_err());
        assert!(yuyv_to_i420(&[0; 7], 2, 2, 0).is_err());
        assert!(nv12_to_i420(&[0; 5], 2, 2, 0).is_err());
        let f = VideoFrame::black(4, 4, 0);
        assert!(i420_to_rgba(&f, &mut [0; 10]).is_err());
        assert!(rgba_to_luma(&[0; 3], 1, 1).is_err());
    }

    #[test]
    fn bgrx_reads_like_rgba_with_red_and_blue_swapped() {
        let (w, h) = (4u32, 2u32);
        let rgba: Vec<u8> = (0..w * h * 4).map(|i| (i * 37 % 251) as u8).collect();
        let bgrx: Vec<u8> = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0], 0])
            .collect();
        assert_eq!(
            rgb_to_i420(&bgrx, w, h, RgbLayout::Bgrx32, 1).unwrap(),
            rgb_to_i420(&rgba, w, h, RgbLayout::Rgba32, 1).unwrap()
        );
    }
}
