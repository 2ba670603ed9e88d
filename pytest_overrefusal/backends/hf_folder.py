"""What a model folder on disk says before any weights load: whether it is one, its context length, its cache
fingerprint, and which exceptions loading its broken content raises. Used by the `hf:` backend."""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
from pathlib import Path

from ..errors import BackendError
from .registry import shown

_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json", "*.pt", "*.pth",
                    "*.h5", "*.msgpack", "*.ckpt.index")
_FOLDER_HINT = "give the folder that holds config.json, the tokenizer files and the weights"


def local_root(target: str) -> Path | None:
    """The folder `target` names when the user typed a path (or one that exists); None for what may be a hub id
    (`org/name`)."""
    try:
        root = Path(target).expanduser()
    except RuntimeError:  # "~nosuchuser/...": no home to expand to, so it stays a (missing) path
        root = Path(target)
    with unusable_path_is_an_error(target):
        exists = root.exists()
    return root if exists or root.is_absolute() or target.startswith((".", "~")) or "\\" in target else None


@contextlib.contextmanager
def unusable_path_is_an_error(target: str):
    """A path the file system will not even look at (too long, a loop of links, no permission) is the user's."""
    try:
        yield
    except OSError as exc:
        raise BackendError(f"hf:{shown(target, 200)}: cannot use this path ({exc.strerror or type(exc).__name__}); "
                           f"{_FOLDER_HINT}") from None


def check_model_folder(root: Path, target: str) -> None:
    """Say what `root` is when it is not a transformers model folder, before anything blames the template."""
    where = f"hf:{shown(target, 200)}"
    if not root.exists():
        raise BackendError(f"{where}: no such folder; {_FOLDER_HINT}")
    if not root.is_dir():
        raise BackendError(f"{where} is a file, not a model folder; {_FOLDER_HINT}")
    try:
        names = [p.name for p in root.iterdir()]
    except OSError as exc:
        raise BackendError(f"{where}: cannot read the folder ({exc.strerror or exc})") from None
    if "config.json" not in names:
        raise BackendError(f"{where} is not a model folder: it has no config.json; {_FOLDER_HINT}")
    try:
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
    except OSError as exc:
        raise BackendError(f"{where}: its config.json cannot be read ({exc.strerror or type(exc).__name__}); "
                           f"{_FOLDER_HINT}") from None
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise BackendError(f"{where}: its config.json is not a JSON object a model config can be read from; "
                           f"{_FOLDER_HINT}")
    if not any(f.is_file() for pattern in _WEIGHT_PATTERNS for f in root.glob(pattern)):
        raise BackendError(f"{where} has config.json but no weights (*.safetensors or *.bin); {_FOLDER_HINT}")


_POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")
_UNSET_LENGTH = 10 ** 9  # tokenizers without a limit report 1e30 (transformers' VERY_LARGE_INTEGER)


def context_length_of(config: dict, tokenizer_max: object) -> int | None:
    """The model's own position limit wins (its embeddings end there); the tokenizer's only fills a gap."""
    for source in (config, config.get("text_config") if isinstance(config.get("text_config"), dict) else {}):
        for key in _POSITION_KEYS:
            value = source.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value < _UNSET_LENGTH:
                return value
    if isinstance(tokenizer_max, (int, float)) and not isinstance(tokenizer_max, bool) \
            and 0 < tokenizer_max < _UNSET_LENGTH:
        return int(tokenizer_max)
    return None


def read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def fingerprint_dir(root: Path, settings: str) -> str:
    """Content-sensitive but cheap: config and tokenizer files whole, head and tail bytes of each weight file."""
    h = hashlib.sha256(settings.encode())
    for name in ("config.json", "generation_config.json", "tokenizer_config.json", "chat_template.jinja",
                 "chat_template.json", "special_tokens_map.json"):
        f = root / name
        if f.is_file():
            h.update(name.encode() + f.read_bytes())
    for f in [f for f in sorted(root.glob("*.safetensors")) + sorted(root.glob("*.bin")) if f.is_file()]:
        size = f.stat().st_size
        with f.open("rb") as fh:
            h.update(f"{f.name}:{size}".encode())
            h.update(fh.read(1 << 20))
            fh.seek(max(0, size - (1 << 20)))
            h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def user_load_errors() -> tuple[type[BaseException], ...]:
    """What loading a folder's broken content raises (truncated weights, sizes that do not match the config, a
    config value of the wrong type, a missing tokenizer package); a bug of ours raises something else."""
    errors: list[type[BaseException]] = [OSError, ValueError, RuntimeError, KeyError, ImportError]
    for module, name in (("safetensors", "SafetensorError"), ("huggingface_hub.errors", "StrictDataclassError")):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(errors)
