//! Device listing and typed errors for missing devices (no hardware needed).

use peercall::media::camera::{list_cameras, CameraSelector, CameraSource, CaptureSize};
use peercall::media::microphone::{list_microphones, Microphone};
use peercall::media::speaker::{list_speakers, Speaker};
use peercall::media::{DeviceKind, MediaError};

#[test]
fn camera_listing_and_missing_camera() {
    let cams = list_cameras().expect("listing cameras must not fail");
    let err = CameraSource::open(
        &CameraSelector::Name("no such camera".into()),
        CaptureSize::Vga,
    )
    .expect_err("opening a missing camera must fail");
    if cams.is_empty() {
        assert!(
            matches!(err, MediaError::NoDevice(DeviceKind::Camera)),
            "{err}"
        );
        assert!(matches!(
            CameraSource::open(&CameraSelector::Default, CaptureSize::Hd720).err(),
            Some(MediaError::NoDevice(DeviceKind::Camera))
        ));
    } else {
        assert!(
            matches!(&err, MediaError::DeviceNotFound { kind: DeviceKind::Camera, name } if name == "no such camera"),
            "{err}"
        );
    }
}

#[test]
fn missing_microphone_and_speaker_by_name() {
    // Listing may legitimately find nothing; it must not fail.
    let mics = list_microphones().expect("listing microphones");
    let spk = list_speakers().expect("listing speakers");
    println!("microphones: {mics:?}\nspeakers: {spk:?}");
    let err = Microphone::open(Some("no such microphone")).err().unwrap();
    assert!(
        matches!(&err, MediaError::DeviceNotFound { kind: DeviceKind::Microphone, name } if name == "no such microphone"),
        "{err}"
    );
    let err = Speaker::open(Some("no such speaker")).err().unwrap();
    assert!(
        matches!(
            &err,
            MediaError::DeviceNotFound {
                kind: DeviceKind::Speaker,
                ..
            }
        ),
        "{err}"
    );
}
