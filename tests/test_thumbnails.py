"""Image previews: small, made from pixels only, with no location data from the original."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from tests.support import Api, Tenant


def attach(api: Api, tenant: Tenant, ref: str, name: str, data: bytes) -> dict[str, object]:
    client = api.as_(tenant.client)
    upload = client.ok(
        "POST",
        f"/incidents/{ref}/uploads",
        expect=201,
        json={"filename": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
    )
    r = client.http.patch(
        f"/uploads/{upload['id']}",
        content=data,
        headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert r.status_code == 201, r.text
    result: dict[str, object] = r.json()
    return result


def photo_with_gps() -> bytes:
    image = Image.new("RGB", (1600, 1200), (30, 60, 90))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x8825] = {1: "N", 2: (28.0, 18.0, 0.0), 3: "W", 4: (16.0, 30.0, 0.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the original has GPS
    return data


def test_jpeg_preview_is_small_and_carries_no_gps(api: Api, tenant: Tenant) -> None:
    ref = tenant.incident(api)["ref"]
    attached = attach(api, tenant, ref, "montura.jpg", photo_with_gps())
    r = api.as_(tenant.staff).get(f"/incidents/{ref}/attachments/{attached['id']}/thumbnail")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    preview = Image.open(io.BytesIO(r.content))
    assert max(preview.size) <= 320
    assert not preview.getexif()
    assert b"GPS" not in r.content
    assert b"CameraMaker" not in r.content
    again = api.as_(tenant.client).get(f"/incidents/{ref}/attachments/{attached['id']}/thumbnail")
    assert again.content == r.content  # cached, identical


def test_non_images_and_broken_images_have_no_preview(api: Api, tenant: Tenant) -> None:
    ref = tenant.incident(api)["ref"]
    pdf = attach(api, tenant, ref, "log.pdf", b"%PDF-1.4\n% not really\n")
    broken = attach(api, tenant, ref, "rota.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    for attachment in (pdf, broken):
        r = api.as_(tenant.client).get(f"/incidents/{ref}/attachments/{attachment['id']}/thumbnail")
        assert r.status_code == 404
        assert r.json()["code"] == "no_preview"


def test_previews_respect_scope(api: Api, tenant: Tenant) -> None:
    ref = tenant.incident(api)["ref"]
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="PNG")
    attached = attach(api, tenant, ref, "a.png", out.getvalue())
    r = api.as_(tenant.client_b).get(f"/incidents/{ref}/attachments/{attached['id']}/thumbnail")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
