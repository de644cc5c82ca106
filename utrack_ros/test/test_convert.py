"""ROS message <-> numpy conversion (utrack_ros.ros.convert), with rosbags message classes."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from utrack_ros.ros import convert
from utrack_ros.ros.typestore import get_typestore, msg_types

T = msg_types()
STORE = get_typestore()
RNG = np.random.default_rng(0)


def header(stamp_ns: int = 1_700_000_001_250_000_000, frame_id: str = "cam_optical"):
    return convert.make_header(T, stamp_ns, frame_id)


def raw_image(pixels: np.ndarray, encoding: str, pad: int = 0, hdr=None):
    """An Image message whose rows are padded with ``pad`` garbage bytes."""
    h, w = pixels.shape[:2]
    rows = pixels.reshape(h, -1)
    if pad:
        garbage = np.full((h, pad), 0xAB, dtype=np.uint8)
        rows = np.concatenate([rows, garbage], axis=1)
    return T.Image(header=hdr or header(), height=h, width=w, encoding=encoding,
                   is_bigendian=0, step=rows.shape[1], data=rows.reshape(-1).copy())


def roundtrip(msg):
    """Serialise to CDR and back, as a bag or the wire would."""
    return STORE.deserialize_cdr(STORE.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


BGR = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize("pad", [0, 1, 3, 13])
@pytest.mark.parametrize(
    "encoding, make",
    [
        ("bgr8", lambda b: b),
        ("8UC3", lambda b: b),
        ("rgb8", lambda b: b[:, :, ::-1]),
        ("bgra8", lambda b: np.dstack([b, np.full(b.shape[:2], 7, np.uint8)])),
        ("rgba8", lambda b: np.dstack([b[:, :, ::-1], np.full(b.shape[:2], 7, np.uint8)])),
    ],
)
def test_colour_encodings_honour_step_padding(encoding, make, pad):
    msg = roundtrip(raw_image(np.ascontiguousarray(make(BGR)), encoding, pad))
    out = convert.image_to_bgr(msg)
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, BGR)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
@pytest.mark.parametrize("pad", [0, 5])
def test_mono_is_replicated_to_three_channels(encoding, pad):
    gray = RNG.integers(0, 256, (4, 9), dtype=np.uint8)
    out = convert.image_to_bgr(raw_image(gray, encoding, pad))
    assert out.shape == (4, 9, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], gray)


def test_big_endian_flag_is_irrelevant_for_8_bit():
    msg = raw_image(np.ascontiguousarray(BGR[:, :, ::-1]), "rgb8")
    msg.is_bigendian = 1
    np.testing.assert_array_equal(convert.image_to_bgr(msg), BGR)


@pytest.mark.parametrize("encoding, pattern", [("bayer_rggb8", "RGGB"), ("bayer_bggr8", "BGGR"),
                                               ("bayer_gbrg8", "GBRG"), ("bayer_grbg8", "GRBG")])
def test_bayer_patterns_demosaic_to_the_right_colour(encoding, pattern):
    colour = {"R": 200, "G": 100, "B": 30}
    mosaic = np.zeros((8, 10), np.uint8)
    for dy in range(2):
        for dx in range(2):
            mosaic[dy::2, dx::2] = colour[pattern[2 * dy + dx]]
    out = convert.image_to_bgr(raw_image(mosaic, encoding, pad=2))
    np.testing.assert_array_equal(out[2:-2, 2:-2].reshape(-1, 3)[0], [30, 100, 200])
    assert (out[2:-2, 2:-2] == [30, 100, 200]).all()


@pytest.mark.parametrize("encoding, y_index", [("yuv422", 1), ("uyvy", 1),
                                               ("yuv422_yuy2", 0), ("yuyv", 0)])
def test_yuv422_byte_orders(encoding, y_index):
    """Grey ramp: left pixel pair dark, right pair bright; U = V = 128 (no colour)."""
    pairs = []
    for luma in (40, 200):
        pair = np.full(4, 128, np.uint8)  # U Y V Y (uyvy) or Y U Y V (yuy2)
        pair[y_index] = pair[y_index + 2] = luma
        pairs.append(pair)
    row = np.concatenate(pairs)
    msg = T.Image(header=header(), height=2, width=4, encoding=encoding, is_bigendian=0,
                  step=8, data=np.tile(row, 2))
    out = convert.image_to_bgr(msg).astype(int)
    assert out.shape == (2, 4, 3)
    assert np.ptp(out[0, 0]) <= 2 and np.ptp(out[0, 3]) <= 2  # grey
    assert out[0, 0, 0] < 60 and out[0, 3, 0] > 180


@pytest.mark.parametrize("encoding", ["mono16", "16UC1", "32FC1", "bgr16", "rgba16", "16UC3"])
def test_deep_encodings_are_rejected_with_the_reason(encoding):
    msg = T.Image(header=header(), height=2, width=2, encoding=encoding, is_bigendian=0,
                  step=16, data=np.zeros(32, np.uint8))
    with pytest.raises(convert.ImageConversionError) as err:
        convert.image_to_bgr(msg)
    text = str(err.value)
    assert encoding in text and "8-bit colour or mono" in text and "bgr8" in text


def test_unknown_encoding_names_it_and_the_supported_ones():
    msg = raw_image(BGR, "bgr9")
    with pytest.raises(ValueError, match=r"unknown image encoding 'bgr9'; supported: .*rgb8"):
        convert.image_to_bgr(msg)


@pytest.mark.parametrize("h, w", [(0, 7), (5, 0), (0, 0)])
def test_empty_image(h, w):
    msg = T.Image(header=header(), height=h, width=w, encoding="bgr8", is_bigendian=0,
                  step=w * 3, data=np.zeros(0, np.uint8))
    with pytest.raises(ValueError, match="empty image"):
        convert.image_to_bgr(msg)


def test_data_shorter_than_step_times_height():
    msg = raw_image(BGR, "bgr8", pad=4)
    msg.data = msg.data[:-1]
    with pytest.raises(ValueError, match=r"fewer than step \* height = 25 \* 5 = 125"):
        convert.image_to_bgr(msg)


def test_step_shorter_than_a_row():
    msg = raw_image(BGR, "bgr8")
    msg.step = 20  # a row of 7 bgr8 pixels is 21 bytes
    with pytest.raises(ValueError, match=r"step 20 is smaller than a row .*\(21 bytes\)"):
        convert.image_to_bgr(msg)


def test_odd_width_yuv_is_rejected():
    msg = T.Image(header=header(), height=1, width=3, encoding="yuv422", is_bigendian=0,
                  step=6, data=np.zeros(6, np.uint8))
    with pytest.raises(ValueError, match="even width"):
        convert.image_to_bgr(msg)


def test_data_as_bytes_array_and_list_like_rclpy():
    import array

    msg = raw_image(BGR, "bgr8", pad=2)
    for data in (bytes(msg.data), array.array("B", bytes(msg.data)), list(msg.data)):
        msg2 = dataclasses.replace(msg, data=data)
        np.testing.assert_array_equal(convert.image_to_bgr(msg2), BGR)


def test_result_does_not_alias_the_message_buffer():
    msg = raw_image(BGR, "bgr8")
    out = convert.image_to_bgr(msg)
    out[:] = 0
    np.testing.assert_array_equal(convert.image_to_bgr(msg), BGR)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_roundtrip(fmt):
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = (255, 0, 0)  # blue left half
    image[:, 32:] = (0, 0, 255)  # red right half
    msg = roundtrip(convert.bgr_to_compressed(T, image, header(), fmt))
    assert msg.format == f"bgr8; {fmt} compressed bgr8"
    out = convert.compressed_to_bgr(msg)
    assert out.shape == image.shape
    if fmt == "png":  # lossless
        np.testing.assert_array_equal(out, image)
    else:  # lossy, and chroma is subsampled at the colour edge: compare away from it
        keep = np.r_[0:24, 40:64]
        assert np.abs(out[:, keep].astype(int) - image[:, keep]).max() <= 12
    assert convert.message_to_bgr(msg).shape == image.shape


def test_plain_jpeg_format_string_and_mono_jpeg():
    gray = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (16, 1))
    ok, enc = cv2.imencode(".jpg", gray)
    assert ok
    msg = T.CompressedImage(header=header(), format="jpeg", data=enc.reshape(-1))
    out = convert.compressed_to_bgr(msg)
    assert out.shape == (16, 32, 3)


def test_compressed_errors():
    with pytest.raises(ValueError, match="empty compressed image"):
        convert.compressed_to_bgr(T.CompressedImage(header=header(), format="jpeg",
                                                    data=np.zeros(0, np.uint8)))
    with pytest.raises(ValueError, match="cannot decode the 5-byte compressed image"):
        convert.compressed_to_bgr(T.CompressedImage(header=header(), format="jpeg",
                                                    data=np.arange(5, dtype=np.uint8)))
    with pytest.raises(ValueError, match="depth image"):
        convert.compressed_to_bgr(T.CompressedImage(
            header=header(), format="16UC1; compressedDepth png", data=np.ones(9, np.uint8)))
    with pytest.raises(ValueError, match="8-bit colour or mono"):
        convert.compressed_to_bgr(T.CompressedImage(
            header=header(), format="mono16; png compressed mono16", data=np.ones(9, np.uint8)))


def test_bgr_to_image_roundtrip_and_header():
    hdr = header(1_700_000_000_000_000_123, "x")
    msg = roundtrip(convert.bgr_to_image(T, BGR, hdr))
    assert (msg.encoding, msg.step, msg.height, msg.width) == ("bgr8", 21, 5, 7)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (
        1_700_000_000, 123, "x")
    np.testing.assert_array_equal(convert.image_to_bgr(msg), BGR)
    with pytest.raises(ValueError, match="HxWx3"):
        convert.bgr_to_image(T, BGR[:, :, 0], hdr)


def test_stamps_and_header_copy():
    hdr = header(1_700_000_001_250_000_000, "cam")
    assert convert.stamp_to_ns(hdr.stamp) == 1_700_000_001_250_000_000
    assert convert.stamp_to_seconds(hdr.stamp) == pytest.approx(1_700_000_001.25, abs=1e-6)
    kept = convert.copy_header(T, hdr)
    assert (kept.stamp.sec, kept.stamp.nanosec, kept.frame_id) == (1_700_000_001,
                                                                   250_000_000, "cam")
    assert kept is not hdr and kept.stamp is not hdr.stamp
    assert convert.copy_header(T, hdr, "base_link").frame_id == "base_link"
    assert convert.copy_header(T, hdr, "").frame_id == "cam"


def track(track_id, box, score=0.9, state="tracked", is_new=False, age=3, fsd=0):
    return SimpleNamespace(track_id=track_id, box_xyxy=np.asarray(box, float), score=score,
                           state=state, is_new=is_new, age=age, frames_since_detection=fsd)


TRACKS = [
    track(7, [10.5, 20.25, 40.0, 90.0], 0.8),
    track(2, [100, 50, 130, 120], 0.95, is_new=True, age=0),
    track(5, [-3.5, 10, 20, 70.75], 0.6, state="refound", fsd=2),
]


def test_tracks_message_fields_states_and_order():
    hdr = header()
    msg = roundtrip(convert.tracks_to_msg(T, TRACKS, hdr))
    assert msg.header.stamp.sec == hdr.stamp.sec and msg.header.frame_id == "cam_optical"
    assert [o.track_id for o in msg.objects] == [2, 5, 7]
    c = T.TrackedObject
    assert [o.state for o in msg.objects] == [c.STATE_NEW, c.STATE_REFOUND, c.STATE_TRACKED]
    assert (convert.STATE_NEW, convert.STATE_TRACKED, convert.STATE_REFOUND) == (
        c.STATE_NEW, c.STATE_TRACKED, c.STATE_REFOUND)
    o = msg.objects[1]
    assert (o.x1, o.y1, o.x2, o.y2) == (-3.5, 10.0, 20.0, 70.75)
    assert (o.age, o.frames_since_detection) == (3, 2)
    assert o.score == pytest.approx(0.6)

    back = {r.track_id: r for r in convert.tracks_from_msg(msg)}
    assert back[5].state == "refound" and back[2].is_new and back[7].state == "tracked"
    np.testing.assert_allclose(back[7].box_xyxy, [10.5, 20.25, 40.0, 90.0])
    rows = convert.records_to_mot_rows(12, convert.tracks_from_msg(msg))
    np.testing.assert_allclose(rows[2], [12, 7, 10.5, 20.25, 29.5, 69.75, 0.8], rtol=1e-6)


def test_empty_tracks_and_invalid_values():
    assert roundtrip(convert.tracks_to_msg(T, [], header())).objects == []
    with pytest.raises(ValueError, match="unknown state 'lost'"):
        convert.tracks_to_msg(T, [track(1, [0, 0, 1, 1], state="lost")], header())
    with pytest.raises(ValueError, match="track_id = -1 does not fit a uint32"):
        convert.tracks_to_msg(T, [track(-1, [0, 0, 1, 1])], header())


def test_occlusions_message_sorted_by_score():
    centres = np.array([[10.0, 20.0], [30.5, 40.25], [1.0, 2.0]])
    scores = np.array([0.2, 0.9, 0.5])
    msg = roundtrip(convert.occlusions_to_msg(T, centres, scores, header()))
    assert msg.header.frame_id == "cam_optical"
    assert [(p.x, p.y) for p in msg.points] == [(30.5, 40.25), (1.0, 2.0), (10.0, 20.0)]
    c, s = convert.occlusions_from_msg(msg)
    np.testing.assert_allclose(s, [0.9, 0.5, 0.2], rtol=1e-6)
    assert c.shape == (3, 2)
    empty = convert.occlusions_to_msg(T, np.zeros((0, 2)), np.zeros(0), header())
    assert roundtrip(empty).points == []
    with pytest.raises(ValueError, match="2 occlusion centres but 1 scores"):
        convert.occlusions_to_msg(T, centres[:2], scores[:1], header())


def test_vision_msgs_4_layout():
    msg = roundtrip(convert.tracks_to_detection2d_array(T, TRACKS, header()))
    assert [d.id for d in msg.detections] == ["2", "5", "7"]
    d = msg.detections[2]
    assert d.header.frame_id == "cam_optical"
    assert (d.bbox.center.position.x, d.bbox.center.position.y) == (25.25, 55.125)
    assert (d.bbox.size_x, d.bbox.size_y) == (29.5, 69.75)
    assert d.results[0].hypothesis.class_id == "person"
    assert d.results[0].hypothesis.score == pytest.approx(0.8)
    back = {r.track_id: r for r in convert.detection2d_array_to_tracks(msg)}
    np.testing.assert_allclose(back[7].box_xyxy, [10.5, 20.25, 40.0, 90.0])


def _old_vision_types():
    """vision_msgs < 3 layout: geometry_msgs/Pose2D centre, results[].id/score, no id."""

    def msg_class(name, *fields):
        return dataclasses.make_dataclass(name, list(fields))

    return SimpleNamespace(
        **{k: getattr(T, k) for k in ("Point", "Quaternion", "Pose", "PoseWithCovariance")},
        float64_array=T.float64_array,
        Pose2D=msg_class("Pose2D", "x", "y", "theta"),
        BoundingBox2D=msg_class("BoundingBox2D", "center", "size_x", "size_y"),
        ObjectHypothesisWithPose=msg_class("ObjectHypothesisWithPose", "id", "score", "pose"),
        ObjectHypothesis=None,
        Detection2D=msg_class("Detection2D", "header", "results", "bbox", "tracking_id"),
        Detection2DArray=msg_class("Detection2DArray", "header", "detections"),
    )


def test_vision_msgs_old_layout_by_field_probing():
    msg = convert.tracks_to_detection2d_array(_old_vision_types(), TRACKS, header())
    d = msg.detections[0]
    assert (d.bbox.center.x, d.bbox.center.y, d.tracking_id) == (115.0, 85.0, "2")
    assert d.results[0].id == "person" and d.results[0].score == pytest.approx(0.95)
    back = {r.track_id: r for r in convert.detection2d_array_to_tracks(msg)}
    np.testing.assert_allclose(back[2].box_xyxy, [100, 50, 130, 120])
    assert back[2].score == pytest.approx(0.95)


def test_detection_id_must_be_an_integer():
    msg = convert.tracks_to_detection2d_array(T, TRACKS[:1], header())
    msg.detections[0].id = "person-7"
    with pytest.raises(ValueError, match="not an integer track id"):
        convert.detection2d_array_to_tracks(msg)


def test_debug_image_draws_boxes_and_keeps_header():
    image = np.full((120, 160, 3), 50, np.uint8)
    hdr = header(frame_id="cam")
    msg = roundtrip(convert.debug_image_msg(T, image, TRACKS, np.array([[80.0, 60.0]]), hdr))
    assert (msg.encoding, msg.height, msg.width, msg.header.frame_id) == ("bgr8", 120, 160,
                                                                          "cam")
    assert msg.header.stamp.nanosec == hdr.stamp.nanosec
    out = convert.image_to_bgr(msg)
    assert (image == 50).all()  # the input frame is untouched
    changed = (out != 50).any(axis=2)
    assert changed[85, 100:131].any()  # bottom edge of track 2's box
    assert changed[60, 75:86].any()  # the occlusion cross
    refound = out[10:71, 0:21]  # track 5 is re-found: drawn red (BGR 0, 0, 255)
    assert ((refound == [0, 0, 255]).all(axis=2)).any()
