//! An Xvfb display for tests that draw windows or share a screen.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Every test display's size.
pub const SCREEN: (u32, u32) = (1280, 800);

/// An Xvfb server on a free display number, stopped on drop.
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    pub fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            // -noreset: a picture set on the root window stays when its client exits.
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-noreset",
                "-screen",
                "0",
            ])
            .arg(format!("{}x{}x24", SCREEN.0, SCREEN.1))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb (apt-get install xvfb)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Xvfb {
            child,
            display: format!(":{}", line.trim()),
        }
    }

    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DISPLAY", &self.display);
        c
    }

    pub fn screenshot(&self, path: &Path) -> Vec<u8> {
        let ok = self
            .command("import")
            .args(["-window", "root"])
            .arg(path)
            .status()
            .expect("run import (apt-get install imagemagick)");
        assert!(ok.success());
        let out = Command::new("convert")
            .arg(path)
            .args(["-depth", "8", "rgba:-"])
            .output()
            .unwrap();
        assert_eq!(out.stdout.len(), (SCREEN.0 * SCREEN.1 * 4) as usize);
        out.stdout
    }

    pub fn xdotool(&self, args: &[&str]) {
        let status = self
            .command("xdotool")
            .args(args)
            .status()
            .expect("run xdotool");
        assert!(status.success(), "xdotool {args:?}");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A picture with sharp edges and fine detail (what text is made of), drawn without fonts, the
/// size of the screen, in `dir`.
pub fn draw_picture(dir: &Path) -> PathBuf {
    let path = dir.join("screen.png");
    let status = Command::new("convert")
        .args(["-size", &format!("{}x{}", SCREEN.0, SCREEN.1), "xc:white"])
        .args(["-fill", "red", "-draw", "rectangle 100,120 500,420"])
        .args(["-fill", "blue", "-draw", "circle 900,400 1010,520"])
        .args(["-fill", "black", "-draw", "line 40,700 1240,640"])
        .args(["(", "-size", "400x120", "pattern:checkerboard", ")"])
        .args(["-geometry", "+600+620", "-composite"])
        .args(["(", "-size", "300x200", "pattern:hs_fdiagonal", ")"])
        .args(["-geometry", "+80+500", "-composite"])
        .args(["-depth", "8"])
        .arg(&path)
        .status()
        .expect("run convert (apt-get install imagemagick)");
    assert!(status.success());
    path
}

/// ImageMagick's PSNR of `b` against `a`, dB (`inf` when identical).
pub fn psnr(a: &Path, b: &Path) -> f64 {
    let out = Command::new("compare")
        .args(["-metric", "PSNR"])
        .arg(a)
        .arg(b)
        .arg("null:")
        .output()
        .expect("run compare");
    let said = String::from_utf8_lossy(&out.stderr);
    let value = said.split_whitespace().next().unwrap_or("");
    if value == "inf" {
        return f64::INFINITY;
    }
    value
        .parse()
        .unwrap_or_else(|_| panic!("compare said {said:?}"))
}

impl Xvfb {
    /// Shows `picture` on the root window (its background: it stays after `display` exits,
    /// the server running with -noreset), and checks the screen shows exactly it.
    pub fn show(&self, picture: &Path, dir: &Path) {
        // `display -window root` exits (with 1) once the background is set: the screenshot
        // says whether it worked.
        let _ = self
            .command("display")
            .args(["-window", "root"])
            .arg(picture)
            .status()
            .expect("run display (apt-get install imagemagick)");
        let screenshot = dir.join("on-screen.png");
        self.screenshot(&screenshot);
        let shown = psnr(picture, &screenshot);
        assert!(
            shown >= 60.0,
            "the display shows something else ({shown:.1} dB)"
        );
    }
}
