"""Where a classifier's trained model lives, which version is used, and that its files are
the ones training wrote.

Layout of one classifier's models folder (e.g. ``var/models/lc_classifier``)::

    <models folder>/current               the version used (one line: a version folder name)
    <models folder>/<version>/artifacts.json   sha256 of every artifact file of that version
    <models folder>/<version>/...              the artifacts (model.json, forest.npz, ...),
                                                metrics.json, MODEL_CARD.md

- **Which version**: a pinned version (``models.<classifier>.version`` in the settings)
  wins, else the ``current`` pointer that training writes. Never modification times: a
  folder planted beside the real ones is not used unless a pointer or a pin names it.
- **Which folder**: an absolute path as given; a relative one against the project root
  (the directory holding ``conf/``), never the current directory.
- **Which files**: ``artifacts.json`` lists every artifact with its sha256 (also copied
  into metrics.json and the model card). Loading reads each file once, checks its sha256
  and refuses a mismatch (``ArtifactMismatch``); the model is built from the checked
  bytes. A model is identified by its version folder plus the sha256 of its
  ``artifacts.json`` (``ModelRef``), which is what the per-process cache keys on.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "artifacts.json"
POINTER = "current"


class ModelMissing(RuntimeError):
    """No trained model where the settings say (no pointer, no such version, no manifest)."""


class ArtifactMismatch(RuntimeError):
    """An artifact's sha256 differs from the one recorded at training: it is not loaded."""


@dataclass(frozen=True)
class ModelRef:
    """One trained model: its version folder and the sha256 of its manifest."""

    folder: str
    manifest_sha256: str

    @property
    def path(self) -> Path:
        return Path(self.folder)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def absolute(location, root=None) -> Path:
    """``location`` as an absolute path: relative ones against ``root`` (default the
    project root), never against the current directory."""
    path = Path(location).expanduser()
    return path if path.is_absolute() else Path(root or PROJECT_ROOT) / path


def _check_version_name(version: str, where: Path) -> str:
    version = version.strip()
    if not version or version in (".", "..") or "/" in version or "\\" in version:
        raise ModelMissing(f"invalid model version {version!r} (pointer or pin for {where}): "
                           "it must be the name of a version folder")
    return version


def version_folder(location, version: str | None = None, root=None,
                   hint: str = "models.<classifier>_dir") -> Path:
    """The version folder to load: ``location`` itself when it is a version folder (holds
    ``artifacts.json``) and no version is pinned; else ``location/<version>`` for a pinned
    version, else ``location/<content of current>``."""
    path = absolute(location, root)
    fix = f"run `make models` (or set {hint})"
    if version is None and (path / MANIFEST).is_file():
        return path
    if version is None:
        pointer = path / POINTER
        if not pointer.is_file():
            raise ModelMissing(f"no trained model under {path} (no `{POINTER}` pointer): {fix}")
        version = pointer.read_text()
    version = _check_version_name(version, path)
    folder = path / version
    if not (folder / MANIFEST).is_file():
        raise ModelMissing(f"no trained model {version!r} under {path} (no {folder / MANIFEST}): {fix}")
    return folder


def model_ref(location, version: str | None = None, root=None,
              hint: str = "models.<classifier>_dir") -> ModelRef:
    folder = version_folder(location, version, root, hint)
    return ModelRef(str(folder.resolve()), sha256_file(folder / MANIFEST))


def write_manifest(folder, files, classifier_name: str, version: str) -> dict:
    """Record the sha256 of ``files`` (names inside ``folder``) in ``artifacts.json``;
    returns {file name: sha256}."""
    folder = Path(folder)
    sums = {name: sha256_file(folder / name) for name in files}
    doc = {"classifier_name": classifier_name, "version": version, "sha256": sums}
    (folder / MANIFEST).write_text(json.dumps(doc, indent=1) + "\n")
    return sums


def read_manifest(folder) -> dict:
    return json.loads((Path(folder) / MANIFEST).read_text())


def read_verified(ref: ModelRef | str | Path) -> dict[str, bytes]:
    """The bytes of every artifact of a version folder, each checked against the sha256
    recorded in its manifest (and the manifest against ``ref`` when a ModelRef is given:
    the model loaded on a worker is the one the driver resolved)."""
    folder = Path(ref.folder) if isinstance(ref, ModelRef) else Path(ref)
    raw = (folder / MANIFEST).read_bytes()
    if isinstance(ref, ModelRef) and sha256_bytes(raw) != ref.manifest_sha256:
        raise ArtifactMismatch(f"{folder / MANIFEST} changed since the model was resolved "
                               f"(sha256 {sha256_bytes(raw)}, expected {ref.manifest_sha256}): refusing to load")
    sums = json.loads(raw)["sha256"]
    out = {}
    for name, want in sums.items():
        if Path(name).name != name:
            raise ArtifactMismatch(f"{folder / MANIFEST} names a file outside its folder: {name!r}")
        data = (folder / name).read_bytes()
        got = sha256_bytes(data)
        if got != want:
            raise ArtifactMismatch(f"{folder / name}: sha256 {got} differs from the {want} recorded "
                                   "at training: refusing to load it (retrain or restore the file)")
        out[name] = data
    return out


def write_pointer(models_folder, version: str) -> Path:
    """Make ``version`` the current model of ``models_folder`` (atomic replace)."""
    models_folder = Path(models_folder)
    version = _check_version_name(version, models_folder)
    if not (models_folder / version / MANIFEST).is_file():
        raise ModelMissing(f"cannot point at {models_folder / version}: it has no {MANIFEST}")
    tmp = models_folder / f".{POINTER}.tmp"
    tmp.write_text(version + "\n")
    tmp.replace(models_folder / POINTER)
    return models_folder / POINTER


def publish(folder, files=None, classifier_name: str = "", version: str = "",
            pointer: bool = False) -> dict:
    """After training: record the sha256 of ``files`` in ``artifacts.json`` (``None``: the
    manifest the model's ``save`` wrote), in ``metrics.json`` (key ``artifacts``) and in the model card,
    and with ``pointer`` make this version its models folder's ``current`` one (the
    folder's parent is the classifier's models folder). Returns {file: sha256}."""
    folder = Path(folder)
    if files is None:
        sums = read_manifest(folder)["sha256"]
    else:
        sums = write_manifest(folder, files, classifier_name, version)
    metrics = folder / "metrics.json"
    if metrics.is_file():
        doc = json.loads(metrics.read_text())
        doc["artifacts"] = sums
        metrics.write_text(json.dumps(doc, indent=2, default=str))
    card = folder / "MODEL_CARD.md"
    if card.is_file() and "## Artifacts" not in card.read_text():
        lines = ["", "## Artifacts", "",
                 f"sha256 of each file, checked when the model is loaded ({MANIFEST}):", ""]
        lines += [f"- `{name}`: `{digest}`" for name, digest in sums.items()]
        with open(card, "a") as handle:
            handle.write("\n".join(lines) + "\n")
    if pointer:
        write_pointer(folder.parent, folder.name)
    return sums


__all__ = ["publish", "ModelMissing", "ArtifactMismatch", "ModelRef", "MANIFEST", "POINTER", "PROJECT_ROOT",
           "absolute", "version_folder", "model_ref", "write_manifest", "read_manifest",
           "read_verified", "write_pointer", "sha256_file", "sha256_bytes"]
