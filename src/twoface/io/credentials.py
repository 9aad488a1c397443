"""Content credentials: a signed C2PA manifest embedded in every output, and reading it back.

The XMP label (`twoface.io.provenance`) says "AI-generated" in a form anyone can strip or
forge. A C2PA manifest says the same, signed: an actions assertion (the target opened, then
edited by a face swap, with the IPTC digitalSourceType of the engine that ran, twoface and its
version as the software agent and the models used), the target as the parent ingredient (its
file name, format and SHA-256; never its pixels), and a hard binding (a hash of every byte of
the file outside the manifest), so a changed pixel, a changed XMP packet or a changed manifest
all fail validation. Source photos are never named, hashed or embedded, and no thumbnail is
made (it would show the target's original face).

Signing uses the user's certificate chain and key (`OutputConfig.sign_cert` / `sign_key`) or,
without them, a key and certificate chain made for this install on first use in the model
store (`<store>/credentials/`): a CA certificate whose private key is thrown away once it has
issued one signing certificate. No public validator trusts it (it is on no trust list); it ties
outputs to this install and nothing else. Organisations sign with their own.

`seal(path, label, fmt)` is called by every writer on its temporary file, before the atomic
rename, so a failure leaves nothing at the output path. `read_credentials(path)` is what
`twoface inspect` reports. The C2PA library (c2pa-python) is imported on first use.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import functools
import hashlib
import os
import re
import secrets
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twoface.errors import InputError, OutputError

if TYPE_CHECKING:
    from twoface.io.provenance import Label

# The output formats whose files hold an embedded manifest (c2pa-python 0.38, C2PA library
# 0.91): the writers' format names -> MIME type. BMP, Matroska and WebM are not among the
# formats the library embeds into; those outputs keep the XMP / container-metadata label only.
EMBED_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
}
# Output extensions -> the writer's format name (for `supports`).
_EXT_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".gif": "GIF",
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
}
# Input extensions -> MIME type, for the parent ingredient's format (a file type the C2PA
# library does not know is named application/octet-stream).
_PARENT_MIME = {
    **{ext: EMBED_FORMATS[fmt] for ext, fmt in _EXT_FORMATS.items()},
    ".jpe": "image/jpeg",
    ".jfif": "image/jpeg",
    ".bmp": "image/bmp",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
}
IPTC_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
CREDENTIALS_DIR = "credentials"  # in the model store
CERT_FILE, KEY_FILE, CA_FILE = "signer.pem", "signer.key", "ca.pem"
MAX_PEM_BYTES = 1 << 20  # a certificate chain or a key is a few KB; refuse reading more
HASH_CHUNK = 1 << 20
# What a C2PA manifest store leaves in a file whatever its container: the labels of its claim
# and signature boxes. Found beside an unreadable manifest, it means "present but broken".
_MANIFEST_MARKERS = (b"c2pa.signature", b"c2pa.claim")
# Validation codes that say the bytes changed after signing, in words for `inspect`.
_CHANGED = {
    "assertion.dataHash.mismatch": "the file's content changed after signing",
    "assertion.bmffHash.mismatch": "the video's content changed after signing",
    "assertion.boxesHash.mismatch": "the file's content changed after signing",
    "assertion.hashedURI.mismatch": "the manifest changed after signing",
    "claimSignature.mismatch": "the manifest's signature does not match it",
}
UNTRUSTED = "signingCredential.untrusted"  # trust, not integrity: reported apart


@dataclass(frozen=True, slots=True)
class InstallKeyPolicy:
    """The per-install key and certificates made on first use.

    ca_days / leaf_days: no timestamp authority is asked (twoface works offline), so a manifest
    holds no trusted signing time and a validator may judge the certificate as of the day it
    checks: a long life keeps outputs validating for years (the CA outlives its one leaf).
    curve: P-256, for ES256, the algorithm every C2PA validator must support.
    """

    ca_days: int = 20 * 366
    leaf_days: int = 10 * 366
    curve: str = "secp256r1"


POLICY = InstallKeyPolicy()


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A certificate chain (PEM, signing certificate first) and its private key (PKCS#8 PEM)."""

    chain: bytes = field(repr=False)
    key: bytes = field(repr=False)
    alg: str  # es256, es384, es512, ps256 or ed25519
    origin: str  # the user's certificate file, or the install's credentials folder
    own: bool  # the per-install key (not publicly trusted)
    subject: str  # the signing certificate's common name


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a writer needs to embed a manifest: the key, the output's name, the models that ran
    and the target (its name and hash go in the manifest; never its pixels)."""

    key: SigningKey
    title: str  # the output's file name (never a folder path)
    models: tuple[str, ...] = ()
    parent: str | None = None  # the target file; None: no parent (a camera, an array)
    operation: str = "face swap"


# -- signing keys -------------------------------------------------------------------------------
def signing_key(
    cert: str | os.PathLike | None, key: str | os.PathLike | None, home: str | os.PathLike
) -> SigningKey:
    """The user's certificate and key, checked (InputError naming the file at fault), or this
    install's, made on first use in `home/credentials`. Checked once per file version."""
    if cert is not None and key is not None:
        stamp = (_stamp(cert), _stamp(key))
        return _user_key(os.fspath(cert), os.fspath(key), stamp)
    folder = Path(home) / CREDENTIALS_DIR
    if not (folder / KEY_FILE).exists():
        _make_install_key(folder)
    return _install_key(str(folder), _stamp(folder / CERT_FILE), _stamp(folder / KEY_FILE))


def check_signing(options, models_dir: str | os.PathLike | None = None) -> None:
    """Before any work: the signing key a labelled output will use (an OutputConfig's
    certificate, checked, or the install's in the model store at `models_dir`, made now)."""
    if options.label:
        from twoface.zoo.store import default_home

        home = Path(models_dir) if models_dir else default_home()
        signing_key(options.sign_cert, options.sign_key, home)


def credentials_for(
    options,
    home: str | os.PathLike,
    *,
    output: str | os.PathLike,
    models: tuple[str, ...] = (),
    parent: str | os.PathLike | None = None,
) -> Credentials | None:
    """The credentials for one output written with `options` (an OutputConfig): None when the
    output is unlabelled. Resolves (and checks) the signing key now, before any work."""
    if not options.label:
        return None
    found = signing_key(options.sign_cert, options.sign_key, home)
    return Credentials(
        key=found,
        title=Path(output).name,
        models=tuple(dict.fromkeys(m for m in models if m)),
        parent=None if parent is None else os.fspath(parent),
    )


def supports(output: str | os.PathLike) -> bool:
    """Whether an output of this extension gets an embedded manifest."""
    return Path(output).suffix.lower() in _EXT_FORMATS


def install_ca(home: str | os.PathLike) -> Path | None:
    """This install's CA certificate, if it has made its key."""
    ca = Path(home) / CREDENTIALS_DIR / CA_FILE
    return ca if ca.is_file() else None


def _stamp(path: str | os.PathLike) -> tuple:
    """A file's identity for the cache: a changed or replaced file is read again."""
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def read_pem(path: str | os.PathLike, what: str, follow: bool = True) -> bytes:
    """A PEM file's bytes (at most MAX_PEM_BYTES); `follow=False` refuses a symbolic link (the
    store's own files: a link planted there is never followed). Only a regular file is opened
    (a FIFO would block the read)."""
    p = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    flags |= 0 if follow else getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise InputError(f"{p}: no such file (the {what})") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InputError(f"{p}: a symbolic link, refused in the model store") from None
        raise InputError(f"{p}: cannot read the {what} ({e.strerror})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{p}: a folder, not the {what}")
        if not stat.S_ISREG(mode):
            raise InputError(f"{p}: not a regular file (the {what})")
        data = os.read(fd, MAX_PEM_BYTES + 1)
    except OSError as e:
        raise InputError(f"{p}: cannot read the {what} ({e.strerror})") from None
    finally:
        os.close(fd)
    if not data:
        raise InputError(f"{p}: file is empty (0 bytes); expected the {what} (PEM)")
    if len(data) > MAX_PEM_BYTES:
        raise InputError(f"{p}: too large for a {what} (over 1 MiB)")
    return data


def _algorithm(private_key, path: str) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(
            private_key.curve.name
        )
        if alg:
            return alg
        raise InputError(
            f"{path}: an EC key on {private_key.curve.name}; C2PA signs with P-256, P-384 or "
            "P-521 (ES256/384/512)"
        )
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < 2048:
            raise InputError(f"{path}: an RSA key of {private_key.key_size} bits; C2PA needs 2048+")
        return "ps256"
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise InputError(
        f"{path}: a {type(private_key).__name__.removeprefix('_')} key; C2PA signs with EC "
        "(P-256/384/521), RSA (PSS) or Ed25519 keys"
    )


def _load_pair(cert_path: str, key_path: str, follow: bool = True) -> tuple[list, bytes, str]:
    """Parse a PEM chain and its key: the chain, the key as PKCS#8 PEM and the algorithm; one
    InputError naming the file and the problem."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    chain_pem = read_pem(cert_path, "signing certificate", follow)
    key_pem = read_pem(key_path, "signing key", follow)
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise InputError(
            f"{cert_path}: not a PEM certificate chain (-----BEGIN CERTIFICATE----- blocks, the "
            "signing certificate first)"
        ) from None
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise InputError(
            f"{key_path}: the private key is encrypted; give an unencrypted PEM key (e.g. "
            "`openssl pkey -in KEY -out plain.key`), readable by you alone"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as e:
        raise InputError(f"{key_path}: not a PEM private key ({_first_line(e)})") from None
    alg = _algorithm(private_key, key_path)
    leaf = chain[0]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if leaf.public_key().public_bytes(der, public) != private_key.public_key().public_bytes(
        der, public
    ):
        raise InputError(
            f"{key_path}: this private key does not match the certificate {cert_path} (the "
            "first certificate of the chain must be the one the key signs for)"
        )
    now = datetime.datetime.now(datetime.UTC)
    if leaf.not_valid_after_utc < now:
        raise InputError(
            f"{cert_path}: the signing certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}"
        )
    if leaf.not_valid_before_utc > now:
        raise InputError(
            f"{cert_path}: the signing certificate is valid only from "
            f"{leaf.not_valid_before_utc:%Y-%m-%d}"
        )
    pkcs8 = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return chain, pkcs8, alg


def _common_name(cert) -> str:
    from cryptography.x509.oid import NameOID

    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


@functools.lru_cache(maxsize=8)
def _user_key(cert_path: str, key_path: str, stamp: tuple) -> SigningKey:
    from cryptography.hazmat.primitives import serialization

    chain, pkcs8, alg = _load_pair(cert_path, key_path)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    found = SigningKey(pem, pkcs8, alg, cert_path, False, _common_name(chain[0]))
    try:
        _trial_sign(found)
    except Exception as e:  # the C2PA library's refusal, in one line
        raise InputError(
            f"{cert_path}: the C2PA library will not sign with this certificate "
            f"({_c2pa_reason(e)}); C2PA wants a certificate issued by a CA (not self-signed) "
            "with an authority key identifier, digitalSignature key usage and an extended key "
            "usage such as emailProtection or documentSigning"
        ) from None
    return found


@functools.lru_cache(maxsize=4)
def _install_key(folder: str, cert_stamp: tuple, key_stamp: tuple) -> SigningKey:
    from cryptography.hazmat.primitives import serialization

    try:
        chain, pkcs8, alg = _load_pair(
            str(Path(folder) / CERT_FILE), str(Path(folder) / KEY_FILE), follow=False
        )
    except InputError as e:
        raise InputError(f"{e}; delete the folder {folder} and twoface makes a new key") from None
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    return SigningKey(pem, pkcs8, alg, folder, True, _common_name(chain[0]))


def _make_install_key(folder: Path) -> None:
    """A CA, a signing certificate it issues and the signing key, written whole or not at all:
    made in a private temporary folder beside `folder` and renamed onto it (a second process
    doing the same at the same time keeps the first one's). The CA's private key is never
    written: nothing can issue another certificate under this install's CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    home = folder.parent
    try:
        home.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".credentials-", dir=home))  # mode 0700
    except OSError as e:
        raise OutputError(
            f"{home}: cannot create the signing key in the model store ({e.strerror}); "
            "give your own with --sign-cert and --sign-key"
        ) from None
    try:
        curve = getattr(ec, POLICY.curve.upper())()
        now = datetime.datetime.now(datetime.UTC)
        tag = secrets.token_hex(4)  # tells installs apart; says nothing about the machine
        org = "twoface local signing key (not on any trust list)"
        ca_key = ec.generate_private_key(curve)
        ca_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, f"twoface install CA {tag}"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            ]
        )
        key = ec.generate_private_key(curve)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, f"twoface install {tag}"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            ]
        )

        def usage(sign: bool) -> x509.KeyUsage:
            return x509.KeyUsage(
                digital_signature=sign,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=not sign,
                crl_sign=not sign,
                encipher_only=False,
                decipher_only=False,
            )

        start = now - datetime.timedelta(hours=1)  # a clock slightly behind still validates
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(now + datetime.timedelta(days=POLICY.ca_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage(False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
            .sign(ca_key, hashes.SHA256())
        )
        leaf = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(now + datetime.timedelta(days=POLICY.leaf_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(True), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.EMAIL_PROTECTION, x509.ObjectIdentifier(_DOC_SIGNING)]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        _write_new(work / CA_FILE, ca.public_bytes(pem), 0o644)
        _write_new(work / CERT_FILE, leaf.public_bytes(pem) + ca.public_bytes(pem), 0o644)
        _write_new(
            work / KEY_FILE,
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            0o600,
        )
        os.chmod(work, 0o700)
        try:
            os.rename(work, folder)
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not folder.is_dir():
                raise
            # Another process made the install's key first: keep theirs.
    except OSError as e:
        raise OutputError(
            f"{folder}: cannot write the signing key ({e.strerror}); give your own with "
            "--sign-cert and --sign-key"
        ) from None
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


_DOC_SIGNING = "1.3.6.1.5.5.7.3.36"  # id-kp-documentSigning (RFC 9336)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


# -- the manifest -------------------------------------------------------------------------------
def _sha256(path: str) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(HASH_CHUNK):
                h.update(chunk)
    except OSError:  # the target went away since it was read: named, not hashed
        return None
    return h.hexdigest()


def manifest_definition(label: Label, creds: Credentials) -> dict:
    """The manifest twoface signs: claim generator, actions, and the target as parent."""
    from twoface import __version__

    agent = {"name": "twoface", "version": __version__}
    models = list(creds.models)
    described = creds.operation + (f" ({', '.join(models)})" if models else "")
    edit: dict[str, Any] = {
        "digitalSourceType": IPTC_BASE + label.source_type,
        "softwareAgent": agent,
        "description": f"{described} by twoface {__version__}",
    }
    if models:
        edit["parameters"] = {"models": models}
    ingredients = []
    if creds.parent is not None:
        parent = Path(creds.parent)
        ingredient: dict[str, Any] = {
            "title": parent.name,
            "format": _PARENT_MIME.get(parent.suffix.lower(), "application/octet-stream"),
            "relationship": "parentOf",
            "label": "target",
        }
        digest = _sha256(creds.parent)
        if digest is not None:
            ingredient["metadata"] = {"sha256": digest}
        ingredients.append(ingredient)
        actions = [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["target"]}},
            {"action": "c2pa.edited", **edit},
        ]
    else:  # a camera or an in-memory picture: nothing to name as the parent
        actions = [{"action": "c2pa.created", **edit}]
    return {
        "claim_generator_info": [agent],
        "title": creds.title,
        "ingredients": ingredients,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}],
    }


def _signer(found: SigningKey):
    import c2pa

    alg = getattr(c2pa.C2paSigningAlg, found.alg.upper())
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg, found.chain, found.key, None))


def _context():
    import c2pa

    # No thumbnails: the C2PA library would embed a small copy of the output and of the
    # target, and the target's would show the face before the swap.
    return c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})


# A 1x1 PNG: what a certificate is tried on before any work, so a chain the C2PA library
# refuses is one line at the start, not a failure after a whole video.
_TRIAL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8ffff3f0005fe02fea7359a000000000049454e44ae426082"
)


def _trial_sign(found: SigningKey) -> None:
    import io

    import c2pa

    definition = {
        "claim_generator_info": [{"name": "twoface"}],
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": IPTC_BASE + "compositeSynthetic",
                        }
                    ]
                },
            }
        ],
    }
    with c2pa.Builder(definition, _context()) as builder:
        builder.sign(_signer(found), "image/png", io.BytesIO(_TRIAL_PNG), io.BytesIO())


def _c2pa_reason(e: BaseException) -> str:
    """The C2PA library's message without its error-type prefix ("Signature: ...")."""
    text = _first_line(e)
    return re.sub(r"^[A-Za-z]+: ", "", text)


def seal(path: str | os.PathLike, label: Label | None, fmt: str) -> None:
    """Embed the signed manifest into the finished file at `path` (a writer's temporary file,
    before its rename): signed into a second temporary file beside it, synced, and renamed
    over it. Does nothing for an unlabelled output or a format that holds no manifest."""
    creds = getattr(label, "credentials", None)
    mime = EMBED_FORMATS.get(fmt)
    if creds is None or mime is None:
        return
    import c2pa

    src = Path(path)
    definition = manifest_definition(label, creds)
    try:
        fd, name = tempfile.mkstemp(prefix=".", suffix=".c2pa.tmp", dir=src.parent)
    except OSError as e:  # the folder removed under the write says so (twoface.io.atomic)
        from twoface.io.atomic import written_error

        raise written_error(src.parent / Path(creds.title).name, e) from None
    signed = Path(name)
    try:
        with (
            c2pa.Builder(definition, _context()) as builder,
            open(src, "rb") as source,
            os.fdopen(fd, "w+b") as dest,
        ):
            builder.sign(_signer(creds.key), mime, source, dest)
            dest.flush()
            os.fsync(dest.fileno())
        os.replace(signed, src)
    except c2pa.C2paError as e:
        raise OutputError(
            f"{creds.title}: the content credentials could not be signed ({_c2pa_reason(e)})"
        ) from None
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO):
            raise OutputError(
                f"{creds.title}: cannot write the output ({os.strerror(e.errno)})"
            ) from None
        raise
    finally:
        with contextlib.suppress(OSError):
            signed.unlink()


# -- reading -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CredentialsReport:
    """What a file's C2PA manifest says and whether it validates.

    state: "trusted" (valid, and its certificate chains to a trust anchor given), "valid" (the
    signature and every hash check out; the signer is on no trust list given) or "invalid"
    (something changed after signing, or the manifest cannot be read)."""

    state: str
    problems: tuple[str, ...] = ()  # validation failures: "code: explanation"
    source_type: str | None = None  # the IPTC digitalSourceType of its actions
    actions: tuple[str, ...] = ()
    software: str | None = None  # "twoface 0.1.0"
    models: tuple[str, ...] = ()
    signer: str | None = None  # the signing certificate's common name
    issuer: str | None = None  # its organisation, as the C2PA library reports it
    parent: dict | None = None  # title, format, sha256 of the parent ingredient
    generator: str | None = None

    @property
    def valid(self) -> bool:
        return self.state in ("valid", "trusted")

    @property
    def tampered(self) -> bool:
        return not self.valid

    def to_json(self) -> dict:
        return {
            "state": self.state,
            "valid": self.valid,
            "trusted": self.state == "trusted",
            "problems": list(self.problems),
            "digital_source_type": self.source_type,
            "actions": list(self.actions),
            "software_agent": self.software,
            "models": list(self.models),
            "signer": self.signer,
            "issuer": self.issuer,
            "parent": self.parent,
            "claim_generator": self.generator,
        }


def _has_marker(path: Path) -> bool:
    from twoface.io.provenance import scan_regions

    try:
        data = scan_regions(path)
    except OSError:
        return False
    return any(m in data for m in _MANIFEST_MARKERS)


def read_credentials(
    path: str | os.PathLike, trust: bytes | None = None
) -> CredentialsReport | None:
    """The file's C2PA manifest, validated (`trust`: PEM CA certificates whose chains count as
    trusted); None when it has none. A manifest that is there but cannot be read is reported
    invalid."""
    import json

    import c2pa

    p = Path(path)
    settings: dict = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust:
        settings["trust"] = {"user_anchors": trust.decode("ascii", "replace")}
    fmt = EMBED_FORMATS.get(_EXT_FORMATS.get(p.suffix.lower(), ""))
    try:
        with (
            c2pa.Context.from_dict(settings) as context,
            open(p, "rb") as f,
            c2pa.Reader(fmt, f, context=context) as reader,
        ):
            state = reader.get_validation_state() or "Invalid"
            store = json.loads(reader.json())
            results = reader.get_validation_results() or {}
    except c2pa.C2paError as e:
        # No manifest found, a format without one, or a file the library cannot parse: a
        # manifest is there (broken) only if its boxes' labels are.
        if not _has_marker(p):
            return None
        return CredentialsReport("invalid", (f"the manifest cannot be read: {_c2pa_reason(e)}",))
    active = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    failures = results.get("activeManifest", {}).get("failure", [])
    problems = tuple(
        f"{f.get('code')}: {_CHANGED.get(f.get('code', ''), f.get('explanation', ''))}"
        for f in failures
        if f.get("code") != UNTRUSTED
    )
    if state == "Invalid" and not problems:
        problems = tuple(f"{f.get('code')}: {f.get('explanation')}" for f in failures)
    report_state = {"Trusted": "trusted", "Valid": "valid"}.get(state, "invalid")
    if problems and report_state != "invalid":
        report_state = "invalid"
    return _describe(active, report_state, problems)


def _describe(active: dict, state: str, problems: tuple[str, ...]) -> CredentialsReport:
    actions, source_type, software, models = [], None, None, ()
    for assertion in active.get("assertions", []):
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in assertion.get("data", {}).get("actions", []):
            actions.append(str(action.get("action")))
            kind = action.get("digitalSourceType")
            if kind:
                source_type = str(kind).rsplit("/", 1)[-1]
            agent = action.get("softwareAgent")
            if isinstance(agent, dict) and agent.get("name"):
                software = f"{agent['name']} {agent.get('version', '')}".strip()
            elif isinstance(agent, str):
                software = agent
            found = (action.get("parameters") or {}).get("models")
            if isinstance(found, list):
                models = tuple(str(m) for m in found)
    parent = None
    for ingredient in active.get("ingredients", []):
        if ingredient.get("relationship") == "parentOf":
            parent = {
                "title": ingredient.get("title"),
                "format": ingredient.get("format"),
                "sha256": (ingredient.get("metadata") or {}).get("sha256"),
            }
    info = active.get("signature_info") or {}
    generators = active.get("claim_generator_info") or [{}]
    gen = generators[0] if isinstance(generators, list) and generators else {}
    return CredentialsReport(
        state=state,
        problems=problems,
        source_type=source_type,
        actions=tuple(actions),
        software=software,
        models=models,
        signer=info.get("common_name"),
        issuer=info.get("issuer"),
        parent=parent,
        generator=f"{gen.get('name', '')} {gen.get('version', '')}".strip() or None,
    )
