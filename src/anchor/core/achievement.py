"""Achievement definitions (the badge class): read from JSON or YAML, checked, turned into the
Open Badges 3.0 ``Achievement`` object every credential of that badge embeds. Pure: the caller
hands in the text."""

from __future__ import annotations

from typing import Any

from anchor.core.errors import InputError
from anchor.core.safe_input import load_json
from anchor.core.safe_yaml import load_yaml
from anchor.core.uri import is_uri

ACHIEVEMENT_TYPES = frozenset(
    "Achievement ApprenticeshipCertificate Assessment Assignment AssociateDegree Award Badge "
    "BachelorDegree Certificate CertificateOfCompletion Certification CommunityService Competency "
    "Course CoCurricular Degree Diploma DoctoralDegree Fieldwork GeneralEducationDevelopment "
    "JourneymanCertificate LearningProgram License Membership ProfessionalDoctorate "
    "QualityAssuranceCredential MasterCertificate MasterDegree MicroCredential ResearchDoctorate "
    "SecondarySchoolDiploma".split()
)
# Friendly keys accepted in the file, mapped to OB 3.0 property names.
ALIASES = {"tags": "tag", "type": "achievementType"}
PASSTHROUGH_STRINGS = ("humanCode", "fieldOfStudy", "specialization", "inLanguage", "version")
ALLOWED = {"id", "name", "description", "criteria", "achievementType", "image", "alignment", "tag",
           "creditsAvailable", *PASSTHROUGH_STRINGS}
MAX_TEXT = 10_000


def _text(data: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise InputError(f"achievement: '{key}' is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"achievement: '{key}' must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise InputError(f"achievement: '{key}' is longer than {MAX_TEXT} characters")
    return value.strip()


def parse_achievement_text(text: str, *, source: str = "achievement file") -> dict[str, Any]:
    """Parse JSON or YAML (JSON is YAML) into a mapping, with a clear error."""
    data = load_json(text, what=source) if text.lstrip().startswith("{") else load_yaml(text, what=source)
    if not isinstance(data, dict):
        raise InputError(f"{source} must hold a mapping of achievement fields, got {type(data).__name__}")
    return data


def build_achievement(data: dict[str, Any]) -> dict[str, Any]:
    """The OB 3.0 ``Achievement`` object for a definition mapping, or :class:`InputError`."""
    data = {ALIASES.get(k, k): v for k, v in data.items()}
    unknown = sorted(set(data) - ALLOWED)
    if unknown:
        raise InputError(f"achievement: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ALLOWED))}")
    ach_id = data.get("id")
    if not is_uri(ach_id):
        raise InputError(f"achievement: 'id' must be an absolute URI (https://..., urn:..., did:...), got {ach_id!r}")
    out: dict[str, Any] = {"id": ach_id, "type": ["Achievement"]}
    out["name"] = _text(data, "name", required=True)
    out["description"] = _text(data, "description", required=True)

    criteria = data.get("criteria")
    if isinstance(criteria, str):
        criteria = {"narrative": criteria}
    if not isinstance(criteria, dict) or not (criteria.get("narrative") or criteria.get("id")):
        raise InputError("achievement: 'criteria' needs a 'narrative' (text) and/or an 'id' (URL)")
    crit: dict[str, Any] = {}
    if criteria.get("id") is not None:
        if not is_uri(criteria["id"]):
            raise InputError(f"achievement: criteria 'id' must be a URI, got {criteria['id']!r}")
        crit["id"] = criteria["id"]
    if criteria.get("narrative") is not None:
        crit["narrative"] = _text(criteria, "narrative", required=True)
    extra = set(criteria) - {"id", "narrative"}
    if extra:
        raise InputError(f"achievement: unknown criteria field(s) {', '.join(sorted(extra))}")
    out["criteria"] = crit

    kind = data.get("achievementType", "MicroCredential")
    if not isinstance(kind, str) or not (kind in ACHIEVEMENT_TYPES or kind.startswith("ext:")):
        raise InputError(f"achievement: achievementType {kind!r} is not an Open Badges type (e.g. MicroCredential, Badge, Certificate) nor an ext: extension")
    out["achievementType"] = kind

    image = data.get("image")
    if image is not None:
        if isinstance(image, str):
            image = {"id": image}
        if not isinstance(image, dict) or not (is_uri(image.get("id")) or str(image.get("id", "")).startswith("data:image/")):
            raise InputError("achievement: 'image' must be an image URL (or a mapping with id and caption)")
        img = {"id": image["id"], "type": "Image"}
        if image.get("caption"):
            img["caption"] = str(image["caption"])
        out["image"] = img

    tags = data.get("tag")
    if tags is not None:
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            raise InputError("achievement: 'tags' must be a list of strings")
        out["tag"] = [t.strip() for t in tags]

    alignment = data.get("alignment")
    if alignment is not None:
        if not isinstance(alignment, list):
            raise InputError("achievement: 'alignment' must be a list")
        out["alignment"] = [_alignment(i, a) for i, a in enumerate(alignment, 1)]

    credits = data.get("creditsAvailable")
    if credits is not None:
        if isinstance(credits, bool) or not isinstance(credits, int | float) or credits < 0:
            raise InputError("achievement: 'creditsAvailable' must be a non-negative number")
        out["creditsAvailable"] = credits
    for key in PASSTHROUGH_STRINGS:
        value = _text(data, key, required=False)
        if value is not None:
            out[key] = value
    return out


def _alignment(n: int, a: object) -> dict[str, Any]:
    if not isinstance(a, dict):
        raise InputError(f"achievement: alignment #{n} must be a mapping")
    if not a.get("targetName") or not is_uri(a.get("targetUrl")):
        raise InputError(f"achievement: alignment #{n} needs 'targetName' and a 'targetUrl' URI")
    allowed = {"targetName", "targetUrl", "targetCode", "targetDescription", "targetFramework", "targetType"}
    extra = set(a) - allowed
    if extra:
        raise InputError(f"achievement: alignment #{n} has unknown field(s) {', '.join(sorted(extra))}")
    out = {"type": ["Alignment"]}
    out.update({k: str(v) for k, v in a.items()})
    return out
