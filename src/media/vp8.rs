//! VP8 encoder and decoder on libvpx (`vpx_sys`), set up like libwebrtc's
//! realtime VP8: CBR, cpu-used -6, error resilient, no lag, keyframes only on
//! request, bitrate changes without re-creating the encoder.
//!
//! Safety overview: each codec context lives in a `Box` (libvpx keeps
//! pointers to the context's config, so neither may move), is initialised
//! once in `new`, used only through `&mut self` (libvpx contexts are not
//! thread-safe, but may move between threads: hence `Send`, not `Sync`),
//! and destroyed exactly once in `Drop`.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_long, c_uint, c_ulong};
use std::ptr;

use vpx_sys as vpx;

use super::error::{MediaError, Result};
use super::frame::{chroma_size, VideoFrame};

/// RTP video clock; encoder timestamps use it so they map onto RTP directly.
const TIMEBASE_HZ: i64 = 90_000;

/// Encoder settings.
#[derive(Debug, Clone)]
pub struct Vp8Config {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// libvpx speed; -6 is what libwebrtc uses on desktop.
    pub cpu_used: i32,
    /// Let the rate control skip frames when over budget (libwebrtc: on).
    /// Off by default so every input frame yields an output frame.
    pub frame_dropping: bool,
    /// Encoder threads; `None` = by resolution (see [`threads_for`]).
    pub threads: Option<u32>,
    /// Screen content (text, flat areas, little motion): libvpx's screen mode keeps text sharp
    /// and spends little on still areas, as libwebrtc does for shared screens.
    pub screen_content: bool,
}

impl Vp8Config {
    pub fn new(width: u32, height: u32, fps: u32, bitrate_kbps: u32) -> Self {
        Vp8Config {
            width,
            height,
            fps,
            bitrate_kbps,
            cpu_used: -6,
            frame_dropping: false,
            threads: None,
            screen_content: false,
        }
    }
}

/// Encoder threads for a resolution, as libwebrtc chooses them: more threads only for large
/// frames on machines with cores to spare. libvpx's VP8 threads spin-wait on each other, so on a
/// small machine that also decodes, renders and runs the network, one thread is faster.
pub fn threads_for(width: u32, height: u32) -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let pixels = width as u64 * height as u64;
    if pixels >= 1920 * 1080 && cores > 8 {
        8
    } else if pixels > 1280 * 960 && cores >= 6 {
        3
    } else if pixels > 640 * 480 && cores >= 3 {
        2
    } else {
        1
    }
}

/// One compressed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    pub data: Vec<u8>,
    pub keyframe: bool,
    /// Presentation time in 90 kHz units (RTP video clock) since the first
    /// encoded frame.
    pub pts: i64,
    /// Capture time of the source frame (µs since the UNIX epoch).
    pub capture_us: u64,
}

/// The largest picture we decode (4K UHD, either way round). A keyframe may declare up to
/// 16383×16383: decoding that would allocate hundreds of MiB, and its RGBA copy about a GiB.
pub const MAX_DECODED_SIZE: (u32, u32) = (3840, 2160);

/// The size a VP8 keyframe declares (RFC 6386 §9.1: after the 3-byte tag, the start code
/// 9d 01 2a, then 14-bit width and height, little-endian), `None` for other frames.
pub fn keyframe_size(data: &[u8]) -> Option<(u32, u32)> {
    if !is_vp8_keyframe(data) || data.len() < 10 || data[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([data[6], data[7]]) & 0x3fff;
    let height = u16::from_le_bytes([data[8], data[9]]) & 0x3fff;
    Some((width as u32, height as u32))
}

/// True if a VP8 frame is a keyframe: bit 0 of the frame tag is 0 for
/// keyframes (RFC 6386 §9.1).
pub fn is_vp8_keyframe(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 1 == 0)
}

fn err_text(ctx: *const vpx::vpx_codec_ctx_t, code: vpx::vpx_codec_err_t) -> String {
    // SAFETY: vpx_codec_err_to_string returns a static NUL-terminated string
    // for any code. `ctx` is a valid context (or null-checked below), and its
    // err_detail is either null or a NUL-terminated string owned by libvpx.
    unsafe {
        let mut s = CStr::from_ptr(vpx::vpx_codec_err_to_string(code))
            .to_string_lossy()
            .into_owned();
        if !ctx.is_null() && !(*ctx).err_detail.is_null() {
            s.push_str(": ");
            s.push_str(&CStr::from_ptr((*ctx).err_detail).to_string_lossy());
        }
        s
    }
}

fn check(ctx: *const vpx::vpx_codec_ctx_t, code: vpx::vpx_codec_err_t, what: &str) -> Result<()> {
    if code == vpx::vpx_codec_err_t::VPX_CODEC_OK {
        Ok(())
    } else {
        Err(MediaError::Codec(format!(
            "{what}: {}",
            err_text(ctx, code)
        )))
    }
}

/// Realtime VP8 encoder.
pub struct Vp8Encoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    cfg: Box<vpx::vpx_codec_enc_cfg_t>,
    width: u32,
    height: u32,
    /// The size it was created with: libvpx cannot grow past it.
    max_size: (u32, u32),
    fps: u32,
    first_capture_us: Option<u64>,
    last_pts: i64,
}

// SAFETY: the context is only touched through &mut self, and libvpx
// encoder contexts carry no thread affinity.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    pub fn new(config: &Vp8Config) -> Result<Self> {
        let Vp8Config {
            width,
            height,
            fps,
            bitrate_kbps,
            ..
        } = *config;
        if width == 0 || height == 0 || width > 16383 || height > 16383 || width % 2 != 0 {
            return Err(MediaError::Unsupported(format!(
                "VP8 size {width}x{height}"
            )));
        }
        if !(1..=120).contains(&fps) || bitrate_kbps == 0 {
            return Err(MediaError::Unsupported(format!(
                "VP8 at {fps} fps, {bitrate_kbps} kbps"
            )));
        }
        // SAFETY: vpx_codec_vp8_cx returns a pointer to a static interface.
        // vpx_codec_enc_config_default fully initialises `cfg` on success,
        // which we check before assume_init.
        let mut cfg = unsafe {
            let mut cfg = Box::new(MaybeUninit::<vpx::vpx_codec_enc_cfg_t>::uninit());
            let rc =
                vpx::vpx_codec_enc_config_default(vpx::vpx_codec_vp8_cx(), cfg.as_mut_ptr(), 0);
            check(ptr::null(), rc, "vpx_codec_enc_config_default")?;
            Box::from_raw(Box::into_raw(cfg).cast::<vpx::vpx_codec_enc_cfg_t>())
        };
        cfg.g_w = width;
        cfg.g_h = height;
        cfg.g_threads = config.threads.unwrap_or_else(|| threads_for(width, height));
        cfg.g_timebase = vpx::vpx_rational {
            num: 1,
            den: TIMEBASE_HZ as c_int,
        };
        cfg.g_error_resilient = vpx::VPX_ERROR_RESILIENT_DEFAULT;
        cfg.g_lag_in_frames = 0;
        cfg.g_pass = vpx::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = bitrate_kbps;
        cfg.rc_min_quantizer = 2;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        cfg.rc_dropframe_thresh = if config.frame_dropping { 30 } else { 0 };
        cfg.rc_resize_allowed = 0;
        // Keyframes come on request (PLI/FIR); the periodic one is a backstop.
        cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_min_dist = 0;
        cfg.kf_max_dist = 3000;

        // SAFETY: a zeroed vpx_codec_ctx_t is the documented "uninitialised"
        // state (all fields are pointers/integers, and err=0 is VPX_CODEC_OK).
        let mut ctx: Box<vpx::vpx_codec_ctx_t> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: ctx and cfg are boxed (stable addresses for libvpx's stored
        // config pointer) and outlive the context (destroyed in Drop before
        // they are freed). On failure libvpx leaves nothing to destroy.
        let rc = unsafe {
            vpx::vpx_codec_enc_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_cx(),
                &*cfg,
                0,
                vpx::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        check(&*ctx, rc, "vpx_codec_enc_init")?;
        let mut enc = Vp8Encoder {
            ctx,
            cfg,
            width,
            height,
            max_size: (width, height),
            fps,
            first_capture_us: None,
            last_pts: -1,
        };
        // libwebrtc's realtime controls. Max intra bitrate bounds keyframe
        // size relative to the per-frame budget (optimal buffer * fps / 20).
        // A shared screen's first picture is worth a big keyframe (text must be readable at
        // once, and few frames follow to sharpen it).
        let max_intra = if config.screen_content {
            0
        } else {
            (600 * fps / 20).max(300) as c_int
        };
        enc.control(vpx::vp8e_enc_control_id::VP8E_SET_CPUUSED, config.cpu_used)?;
        enc.control(vpx::vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY, 0)?;
        enc.control(vpx::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD, 1)?;
        enc.control(
            vpx::vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT,
            max_intra,
        )?;
        if config.screen_content {
            enc.control(vpx::vp8e_enc_control_id::VP8E_SET_SCREEN_CONTENT_MODE, 1)?;
        }
        Ok(enc)
    }

    fn control(&mut self, id: vpx::vp8e_enc_control_id, value: c_int) -> Result<()> {
        // SAFETY: the context is initialised; every control used here takes
        // a single int argument, which is what the variadic call passes.
        let rc = unsafe { vpx::vpx_codec_control_(&mut *self.ctx, id as c_int, value) };
        check(&*self.ctx, rc, "vpx_codec_control")
    }

    /// Changes the target bitrate of the running encoder.
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<()> {
        if kbps == 0 {
            return Err(MediaError::Unsupported("0 kbps".into()));
        }
        self.cfg.rc_target_bitrate = kbps;
        // SAFETY: ctx is initialised; cfg is the same boxed config it was
        // created with (stable address), now with a new bitrate.
        let rc = unsafe { vpx::vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg) };
        check(&*self.ctx, rc, "vpx_codec_enc_config_set")
    }

    /// Encodes frames of another size from now on, up to the size the encoder was created with
    /// (the first frame at the new size is a keyframe).
    pub fn set_size(&mut self, width: u32, height: u32) -> Result<()> {
        if (width, height) == (self.width, self.height) {
            return Ok(());
        }
        if width == 0
            || height == 0
            || !width.is_multiple_of(2)
            || width > self.max_size.0
            || height > self.max_size.1
        {
            return Err(MediaError::Unsupported(format!(
                "VP8 size {width}x{height} on an encoder made for {}x{}",
                self.max_size.0, self.max_size.1
            )));
        }
        self.cfg.g_w = width;
        self.cfg.g_h = height;
        // SAFETY: as in set_bitrate; libvpx accepts a size no larger than the initial one in
        // one-pass mode without lag.
        let rc = unsafe { vpx::vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg) };
        check(&*self.ctx, rc, "vpx_codec_enc_config_set")?;
        self.width = width;
        self.height = height;
        Ok(())
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    pub fn bitrate_kbps(&self) -> u32 {
        self.cfg.rc_target_bitrate
    }

    pub fn threads(&self) -> u32 {
        self.cfg.g_threads
    }

    /// Encodes one frame (which must have the configured size). Returns the
    /// compressed frame(s); empty if the rate control dropped this frame.
    pub fn encode(
        &mut self,
        frame: &VideoFrame,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>> {
        frame.validate()?;
        if (frame.width, frame.height) != (self.width, self.height) {
            return Err(MediaError::InvalidInput(format!(
                "frame {}x{} given to a {}x{} encoder",
                frame.width, frame.height, self.width, self.height
            )));
        }
        // Timestamps from capture time, kept strictly increasing.
        let first = *self.first_capture_us.get_or_insert(frame.capture_us);
        let pts = (frame.capture_us.saturating_sub(first) as i64 * TIMEBASE_HZ / 1_000_000)
            .max(self.last_pts + 1);
        self.last_pts = pts;
        let (cw, _) = chroma_size(frame.width, frame.height);
        // SAFETY: a zeroed vpx_image_t is valid (null pointers, zero enums
        // are valid variants). We then describe our tightly packed planes;
        // libvpx only reads them during vpx_codec_encode, while `frame` is
        // borrowed, and never writes through these pointers.
        let mut img: vpx::vpx_image_t = unsafe { std::mem::zeroed() };
        img.fmt = vpx::vpx_img_fmt::VPX_IMG_FMT_I420;
        img.w = frame.width;
        img.h = frame.height;
        img.d_w = frame.width;
        img.d_h = frame.height;
        img.bit_depth = 8;
        img.x_chroma_shift = 1;
        img.y_chroma_shift = 1;
        img.bps = 12;
        img.planes[0] = frame.y.as_ptr().cast_mut();
        img.planes[1] = frame.u.as_ptr().cast_mut();
        img.planes[2] = frame.v.as_ptr().cast_mut();
        img.stride[0] = frame.width as c_int;
        img.stride[1] = cw as c_int;
        img.stride[2] = cw as c_int;
        let flags = if force_keyframe {
            vpx::VPX_EFLAG_FORCE_KF as vpx::vpx_enc_frame_flags_t
        } else {
            0
        };
        let duration = (TIMEBASE_HZ / self.fps as i64) as c_ulong;
        // SAFETY: ctx initialised; img describes valid planes of the
        // configured size (validated above) that outlive the call.
        let rc = unsafe {
            vpx::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                pts,
                duration,
                flags,
                vpx::VPX_DL_REALTIME as c_ulong,
            )
        };
        check(&*self.ctx, rc, "vpx_codec_encode")?;
        let mut out = Vec::new();
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: ctx initialised; iter starts null as required. Each
            // packet pointer is valid until the next get_cx_data/encode call,
            // and we copy its bytes out before that.
            unsafe {
                let pkt = vpx::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter);
                if pkt.is_null() {
                    break;
                }
                if (*pkt).kind != vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                    continue;
                }
                let f = (*pkt).data.frame;
                let data = std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize).to_vec();
                out.push(EncodedFrame {
                    data,
                    keyframe: f.flags & vpx::VPX_FRAME_IS_KEY != 0,
                    pts: f.pts,
                    capture_us: frame.capture_us,
                });
            }
        }
        Ok(out)
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: ctx was successfully initialised in `new` (otherwise no
        // Vp8Encoder exists) and is destroyed only here.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// VP8 decoder producing tightly packed I420 frames.
pub struct Vp8Decoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    /// Handed to libvpx at init; kept alive as long as the context in case
    /// libvpx holds on to the pointer.
    _cfg: Box<vpx::vpx_codec_dec_cfg_t>,
}

// SAFETY: as for the encoder: used only via &mut self, no thread affinity.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    pub fn new() -> Result<Self> {
        let cfg = Box::new(vpx::vpx_codec_dec_cfg_t {
            threads: 1,
            w: 0,
            h: 0,
        });
        // SAFETY: zeroed ctx is the uninitialised state; ctx and cfg are
        // boxed so the pointers libvpx keeps stay valid until Drop.
        let mut ctx: Box<vpx::vpx_codec_ctx_t> = Box::new(unsafe { std::mem::zeroed() });
        let rc = unsafe {
            vpx::vpx_codec_dec_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_dx(),
                &*cfg,
                0,
                vpx::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        check(&*ctx, rc, "vpx_codec_dec_init")?;
        Ok(Vp8Decoder { ctx, _cfg: cfg })
    }

    /// Decodes one compressed frame. `Ok(None)` if libvpx produced no
    /// picture; `Err(Codec)` on corrupt data (the caller should then ask the
    /// sender for a keyframe). `capture_us` is carried into the frame.
    /// Decodes one frame. A keyframe declaring more than [`MAX_DECODED_SIZE`] (in either
    /// orientation) is refused before libvpx sees it.
    pub fn decode(&mut self, data: &[u8], capture_us: u64) -> Result<Option<VideoFrame>> {
        if data.is_empty() || data.len() > u32::MAX as usize {
            return Err(MediaError::InvalidInput("empty VP8 frame".into()));
        }
        if let Some((width, height)) = keyframe_size(data) {
            let (max_w, max_h) = MAX_DECODED_SIZE;
            let fits = (width <= max_w && height <= max_h) || (width <= max_h && height <= max_w);
            if !fits {
                return Err(MediaError::TooLarge {
                    width,
                    height,
                    max_width: max_w,
                    max_height: max_h,
                });
            }
        }
        // SAFETY: ctx initialised; data/len describe a live slice, which
        // libvpx only reads during the call.
        let rc = unsafe {
            vpx::vpx_codec_decode(
                &mut *self.ctx,
                data.as_ptr(),
                data.len() as c_uint,
                ptr::null_mut(),
                0 as c_long,
            )
        };
        check(&*self.ctx, rc, "vpx_codec_decode")?;
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        let mut last = None;
        loop {
            // SAFETY: ctx initialised; the returned image stays valid until
            // the next decode call, and we copy it out immediately.
            let img = unsafe { vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                break;
            }
            last = Some(unsafe { copy_image(&*img, capture_us)? });
        }
        Ok(last)
    }
}

/// Copies a decoded 8-bit I420 image into a tightly packed frame.
///
/// # Safety
/// `img` must be a live image from libvpx whose plane pointers and strides
/// describe at least `d_w x d_h` luma and matching chroma samples.
unsafe fn copy_image(img: &vpx::vpx_image_t, capture_us: u64) -> Result<VideoFrame> {
    if img.fmt != vpx::vpx_img_fmt::VPX_IMG_FMT_I420 || img.d_w == 0 || img.d_h == 0 {
        return Err(MediaError::Unsupported(format!(
            "decoded image format {:?} {}x{}",
            img.fmt, img.d_w, img.d_h
        )));
    }
    let (w, h) = (img.d_w, img.d_h);
    let (cw, ch) = chroma_size(w, h);
    let mut f = VideoFrame::black(w, h, capture_us);
    let copy = |plane: usize, dst: &mut [u8], pw: usize, ph: usize| {
        let stride = img.stride[plane] as isize;
        for row in 0..ph {
            // SAFETY: per the function contract, row `row` of `plane` has at
            // least `pw` readable bytes at planes[plane] + row * stride.
            let src = unsafe {
                std::slice::from_raw_parts(img.planes[plane].offset(row as isize * stride), pw)
            };
            dst[row * pw..(row + 1) * pw].copy_from_slice(src);
        }
    };
    copy(0, &mut f.y, w as usize, h as usize);
    copy(1, &mut f.u, cw, ch);
    copy(2, &mut f.v, cw, ch);
    Ok(f)
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_bit() {
        assert!(is_vp8_keyframe(&[0x10, 0, 0]));
        assert!(!is_vp8_keyframe(&[0x11, 0, 0]));
        assert!(!is_vp8_keyframe(&[]));
    }

    #[test]
    fn thread_choice() {
        assert_eq!(threads_for(320, 240), 1);
        assert!(threads_for(1280, 720) >= 1 && threads_for(1280, 720) <= 2);
    }
}
