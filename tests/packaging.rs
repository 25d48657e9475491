//! The Debian package (scripts/build-deb.sh): the binary, the desktop entry and the icons land
//! where desktops look for them, the entry names what is installed, and the packaged binary runs.

use std::path::Path;
use std::process::Command;

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_package_installs_the_binary_its_desktop_entry_and_icons() {
    let dir = std::env::temp_dir().join(format!("peercall-deb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("out");
    let deb = run(
        "scripts/build-deb.sh",
        &[
            "--binary",
            env!("CARGO_BIN_EXE_peercall"),
            "--out",
            out.to_str().unwrap(),
            "--fast",
        ],
    );
    let deb = deb.trim();
    assert!(deb.ends_with(".deb"), "{deb}");
    let fields = run("dpkg-deb", &["-f", deb, "Package", "Version", "Depends"]);
    assert!(fields.contains("Package: peercall"), "{fields}");
    assert!(
        fields.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{fields}"
    );
    let root = dir.join("root");
    run("dpkg-deb", &["-x", deb, root.to_str().unwrap()]);
    for path in [
        "usr/bin/peercall",
        "usr/share/applications/peercall.desktop",
        "usr/share/icons/hicolor/scalable/apps/peercall.svg",
        "usr/share/icons/hicolor/48x48/apps/peercall.png",
        "usr/share/icons/hicolor/128x128/apps/peercall.png",
        "usr/share/icons/hicolor/256x256/apps/peercall.png",
    ] {
        assert!(root.join(path).is_file(), "{path} is not in the package");
    }
    // The entry starts the installed binary and names the installed icon.
    let entry =
        std::fs::read_to_string(root.join("usr/share/applications/peercall.desktop")).unwrap();
    for line in [
        "[Desktop Entry]",
        "Type=Application",
        "Exec=peercall",
        "Icon=peercall",
    ] {
        assert!(entry.lines().any(|l| l == line), "no {line:?} in:\n{entry}");
    }
    // The icons are what they say: PNGs of their size.
    for size in [48u32, 128, 256] {
        let png = std::fs::read(root.join(format!(
            "usr/share/icons/hicolor/{size}x{size}/apps/peercall.png"
        )))
        .unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((width, height), (size, size));
    }
    let version = run(
        root.join("usr/bin/peercall").to_str().unwrap(),
        &["--version"],
    );
    assert_eq!(
        version.trim(),
        format!("peercall {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(Path::new(deb).is_file());
    let _ = std::fs::remove_dir_all(&dir);
}
