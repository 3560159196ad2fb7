"""Reading a presented badge (anchor.core.forms): every form detected from its bytes, the same
credential out of each, clear refusals for everything else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchor.core import baking, forms, jwt
from anchor.core.badge_image import badge_png, badge_svg
from anchor.core.errors import InputError
from tests.test_jwt import DidKeyIssuer, sample_credential


@pytest.fixture(scope="module")
def issuer() -> DidKeyIssuer:
    return DidKeyIssuer.new()


@pytest.fixture(scope="module")
def credential(issuer: DidKeyIssuer) -> dict[str, Any]:
    return sample_credential(issuer.did)


@pytest.fixture(scope="module")
def token(issuer: DidKeyIssuer, credential: dict[str, Any]) -> str:
    return jwt.encode(credential, issuer.sign, issuer.kid)


def all_forms(credential: dict[str, Any], token: str) -> dict[str, tuple[bytes, str]]:
    text = json.dumps(credential, ensure_ascii=False, indent=2)
    png, svg = badge_png("seed", size=32), badge_svg("Data Stewardship", "Example University")
    return {
        "json": (text.encode(), "json"),
        "json-bom-ws": (b"\xef\xbb\xbf\n  " + text.encode() + b"\n", "json"),
        "jwt": (token.encode(), "jwt"),
        "jwt-newline": (token.encode() + b"\r\n", "jwt"),
        "png-json": (baking.bake_png(png, text), "png"),
        "png-jwt": (baking.bake_png(png, token), "png"),
        "svg-json": (baking.bake_svg(svg, text).encode(), "svg"),
        "svg-jwt": (baking.bake_svg(svg, token).encode(), "svg"),
        "svg-decl": (b'<?xml version="1.0" encoding="utf-8"?>\n' + baking.bake_svg(svg, token).encode(), "svg"),
    }


@pytest.mark.parametrize("name", ["json", "json-bom-ws", "jwt", "jwt-newline", "png-json", "png-jwt", "svg-json", "svg-jwt", "svg-decl"])
def test_every_form_gives_the_same_credential(name: str, issuer: DidKeyIssuer, credential: dict[str, Any], token: str) -> None:
    data, expected = all_forms(credential, token)[name]
    presented = forms.read_badge(data)
    assert presented.format == expected
    assert presented.credential == credential
    carries_jwt = "jwt" in name or name == "svg-decl"
    assert (presented.jwt is not None) == carries_jwt
    if presented.jwt is not None:
        assert presented.payload == token
        assert jwt.verify(presented.jwt, issuer.public)
        assert presented.jwt.kid == issuer.kid
    else:
        assert json.loads(presented.payload) == credential


def refused(data: Any, reason: str) -> InputError:
    with pytest.raises(InputError) as info:
        forms.read_badge(data)
    assert info.value.reason == reason, info.value
    return info.value


def test_what_is_not_a_badge_is_refused_with_a_reason(credential: dict[str, Any], token: str) -> None:
    png, svg = badge_png("seed", size=32), badge_svg("A", "B")
    refused(b"", "unknown_format")
    refused(b"  \n", "unknown_format")
    refused(b"GIF89a\x01\x00", "unknown_format")
    refused(b"\x00\x01\x02", "unknown_format")
    refused(b"hello world", "unknown_format")
    refused("a string, not bytes", "unknown_format")
    refused(b'{"a": 1,}', "invalid_json")
    refused(b'{"a": 1, "a": 2}', "duplicate_key")
    refused(b"{" * 100, "too_deep")
    refused(bytes(forms.MAX_BADGE_BYTES + 1), "too_large")
    refused(baking.bake_png(png, "hello there"), "baked_payload")
    refused(baking.bake_png(png, '{"a":1}{'), "invalid_json")
    refused(baking.bake_svg(svg, "a.b.c").encode(), "jwt_base64")
    refused(png, "no_credential")
    refused(svg.encode(), "no_credential")
    refused(png[:-1], "png_truncated")
    h, p, s = token.split(".")
    refused(f"{h}.{p}.{s[:-2]}".encode(), "jwt_signature")
    refused(b"eyJhbGciOiJub25lIn0.e30.", "jwt_alg")  # {"alg":"none"}, an unsigned token
    refused(b'\n<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "svg_invalid")  # declaration not first
    error = refused(b"<!DOCTYPE svg [<!ENTITY a 'b'>]><svg/>", "svg_dtd")
    assert "DTD" in error.message


def test_json_that_is_not_an_object_is_not_a_credential() -> None:
    refused(b"[1, 2]", "not_a_credential")
    refused(baking.bake_png(badge_png("s", size=16), "[1]"), "not_a_credential")
    refused(baking.bake_png(badge_png("s", size=16), '"a string"'), "baked_payload")
    assert forms.read_badge(b"{}").credential == {}  # an object: what it is worth is the verifier's call
    svg = baking.bake_svg(badge_svg("A", "B"), '{"x": [1]}')
    assert forms.read_badge(svg.encode()).credential == {"x": [1]}


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=200),
    st.builds(lambda tail: baking.PNG_SIGNATURE + tail, st.binary(max_size=200)),
    st.builds(lambda tail: b"<svg " + tail, st.binary(max_size=200)),
    st.builds(lambda tail: b"{" + tail, st.binary(max_size=200)),
    st.text("eyJ.AZaz09_-", max_size=120).map(str.encode),
))
def test_property_any_bytes_give_a_badge_or_an_input_error(data: bytes) -> None:
    try:
        presented = forms.read_badge(data)
    except InputError as exc:
        assert exc.reason and exc.message
    else:
        assert isinstance(presented.credential, dict)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(exclude_categories=["Cs", "Cn"]), min_size=1, max_size=60), form=st.sampled_from(["json", "jwt", "png", "svg"]),
       inner=st.sampled_from(["json", "jwt"]))
def test_property_forms_round_trip(issuer: DidKeyIssuer, name: str, form: str, inner: str) -> None:
    credential = sample_credential(issuer.did, name=name)
    text = json.dumps(credential, ensure_ascii=False)
    token = jwt.encode(credential, issuer.sign, issuer.kid)
    payload = token if inner == "jwt" or form == "jwt" else text
    data = {
        "json": text.encode(),
        "jwt": token.encode(),
        "png": baking.bake_png(badge_png(name, size=16), payload),
        "svg": baking.bake_svg(badge_svg(name, "Example University"), payload).encode(),
    }[form]
    presented = forms.read_badge(data)
    assert presented.format == form
    assert presented.credential == credential
