//! Writes test-pattern frames to a .y4m file, e.g. to time other encoders
//! (scripts/bench-vpxenc.sh) on exactly the frames our benches use.
//!
//! Usage: write_y4m OUT.y4m [WIDTH HEIGHT FRAMES FPS]

use std::io::{BufWriter, Write};

use peercall::media::test_pattern::TestPattern;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        return Err("usage: write_y4m OUT.y4m [WIDTH HEIGHT FRAMES FPS]".into());
    };
    let num = |i: usize, default: u32| -> Result<u32, Box<dyn std::error::Error>> {
        Ok(args
            .get(i)
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let (w, h, frames, fps) = (num(1, 640)?, num(2, 480)?, num(3, 300)?, num(4, 30)?);
    let pattern = TestPattern::new(w, h)?;
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg")?;
    for i in 0..frames {
        let f = pattern.render(i, i as u64 * 1_000_000 / fps as u64);
        out.write_all(b"FRAME\n")?;
        out.write_all(&f.y)?;
        out.write_all(&f.u)?;
        out.write_all(&f.v)?;
    }
    out.flush()?;
    Ok(())
}
