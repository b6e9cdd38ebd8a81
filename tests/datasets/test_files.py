"""The start-up checks of image files (header and end) and the search for undecodable files."""

import io

import numpy as np
import pytest
from PIL import Image

from datasets.base import DataError
from datasets.files import TAIL_BYTES, check_image_data, check_image_file, undecodable_files


def _encoded(image_format: str, size: int = 48) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "BMP"])
def test_a_whole_image_passes_and_one_cut_short_after_its_header_is_named(tmp_path, image_format):
    data = _encoded(image_format)
    suffix = {"PNG": "png", "JPEG": "jpg", "BMP": "bmp"}[image_format]
    whole, cut = tmp_path / f"whole.{suffix}", tmp_path / f"cut.{suffix}"
    whole.write_bytes(data)
    cut.write_bytes(data[:len(data) // 2])  # the signature and header intact
    assert check_image_file(str(whole)) == image_format
    with pytest.raises(DataError, match=rf"Expected a whole {image_format} image\. Received: "
                                        rf"'.*cut\.{suffix}' \(class 'cat', split 'train'; "
                                        rf"{len(data) // 2:,} bytes\).*cut short"):
        check_image_file(str(cut), "class 'cat', split 'train'")


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_bytes_appended_after_the_end_marker_are_accepted(tmp_path, image_format):
    data = _encoded(image_format, size=96)
    path = tmp_path / f"x.{image_format.lower()}"
    path.write_bytes(data + b"\0" * 100)  # padding a writer appended
    assert check_image_file(str(path)) == image_format
    path.write_bytes(data + bytes(3 * TAIL_BYTES))  # a motion photo's video: the file is read whole
    assert check_image_file(str(path)) == image_format
    assert not undecodable_files([str(path)])


def test_headers_that_describe_no_image_are_named():
    png = _encoded("PNG")
    no_size = png[:16] + bytes(8) + png[24:]  # a 0x0 IHDR
    with pytest.raises(DataError, match=r"IHDR chunk that gives a 0x0 image"):
        check_image_data("x.png", no_size)
    with pytest.raises(DataError, match=r"no marker after its start-of-image marker"):
        check_image_data("x.jpg", b"\xff\xd8 not a marker" + b"\xff\xd9")
    bmp = _encoded("BMP")
    with pytest.raises(DataError, match=r"info header of 7 bytes"):
        check_image_data("x.bmp", bmp[:14] + bytes([7, 0, 0, 0]) + bmp[18:])
    with pytest.raises(DataError, match=r"starts with bytes b'GIF89a"):
        check_image_data("x.png", b"GIF89a...")


def test_undecodable_files_names_those_that_fail_with_tensorflows_message(tmp_path):
    png = _encoded("PNG")
    middle = len(png) // 2
    damaged = png[:middle] + bytes(b ^ 0x55 for b in png[middle:middle + 50]) + png[middle + 50:]
    paths = []
    for name, data in [("a.png", png), ("b.png", damaged), ("c.png", png)]:
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    check_image_file(paths[1])  # header and end intact: only decoding finds it
    paths.append(str(tmp_path / "gone.png"))
    failed = undecodable_files(paths)
    assert sorted(failed) == [1, 3]
    assert "PNG" in failed[1] and "{{" not in failed[1] and "[Op:" not in failed[1]
    assert "gone.png" in failed[3]
