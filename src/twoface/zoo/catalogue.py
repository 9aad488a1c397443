"""The catalogue: one entry per published model file, file facts only. Building it does no I/O.

An entry says where a file comes from (urls, size, sha256, licence, format), what its network
expects (`Preprocess`) and which component reads it: its task and architecture, which name a
registered component (twoface.registry; twoface.build resolves them), never code. Sizes and
sha256 digests are given only where a public manifest states them (noted per entry); otherwise
they are pinned on the first download and reported as pinned, not verified.

`CATALOGUE` holds the published entries and is never changed at run time; a model store owns
a `Catalogue` value of its own: the published entries and the models its user imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

Task = Literal[
    "swap", "detect", "identity", "landmarks", "parse", "occlude", "restore", "anime-detect"
]
Format = Literal["onnx", "torch", "safetensors", "cascade-xml"]


@dataclass(frozen=True, slots=True)
class Preprocess:
    """What the model expects of its input."""

    size: int | None = None  # crop or network side in pixels
    template: str | None = None  # alignment template name (geometry.TEMPLATES)
    colour: Literal["RGB", "BGR"] = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)  # in 0..255 units
    std: tuple[float, float, float] = (255.0, 255.0, 255.0)
    max_batch: int | None = None  # 1 for ONNX files exported with a fixed batch


@dataclass(frozen=True, slots=True)
class ModelEntry:
    name: str
    task: Task
    arch: str
    format: Format
    filename: str
    urls: tuple[str, ...]
    licence: str
    non_commercial: bool
    size: int | None = None
    sha256: str | None = None
    member: str | None = None  # the file inside a published .zip
    preprocess: Preprocess = field(default_factory=Preprocess)
    pairs_with: str | None = None  # the identity encoder a swapper was trained with
    source: str = ""  # where the size/hash facts come from
    notes: str = ""

    @property
    def verified(self) -> bool:
        """Whether the published file's digest is known (else it is pinned on first download)."""
        return self.sha256 is not None


_INSIGHT = "https://huggingface.co/public-data/insightface/resolve/main/models/"
_DLC = "https://huggingface.co/hacksider/deep-live-cam/resolve/581e70b61240b7928404c17900437f47cfe94133/"
_FF_ASSETS = "https://github.com/facefusion/facefusion-assets/releases/download/models/"
_GHOST = "https://github.com/sberbank-ai/sber-swap/releases/download/"
_SIMSWAP = "https://github.com/neuralchen/SimSwap/releases/download/"
_RESWAP = "https://huggingface.co/somanchiu/reswapper/resolve/main/"
_ANIME = "https://github.com/hysts/anime-face-detector/releases/download/v0.0.1/"
_FACEXLIB = "https://github.com/xinntao/facexlib/releases/download/"
_UNIFACE = (
    "uniface's MODEL_SHA256 table (its w600k_r50, det_10g and 2d106det digests equal the "
    "deep-live-cam manifest's, so it mirrors insightface's files byte for byte)"
)
_RESTORE_MANIFEST = "a ComfyUI face-restore installer's sha256 table (FaceRestore_Models mirror)"
_FF3 = "https://github.com/facefusion/facefusion-assets/releases/download/models-3.{}.0/"
_FF3_HF = "https://huggingface.co/facefusion/models-3.{}.0/resolve/main/"
_IMAGENET = Preprocess(size=512, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))
_MINUS1_1 = Preprocess(size=512, template="ffhq", mean=(127.5,) * 3, std=(127.5,) * 3)


def _facefusion(
    name: str, task, arch: str, release: int, licence: str, nc: bool, pre, notes="", file=None
):
    """An ONNX file from FaceFusion's asset releases (GitHub, with its Hugging Face mirror)."""
    filename = file or f"{name}.onnx"
    return ModelEntry(
        name,
        task,
        arch,
        "onnx",
        filename,
        (_FF3.format(release) + filename, _FF3_HF.format(release) + filename),
        licence,
        nc,
        preprocess=pre,
        notes=notes,
    )


_MANIFEST = "deep-live-cam model manifest (revision 581e70b6), cross-checked by several projects"

INSIGHTFACE_LICENCE = "InsightFace models: non-commercial research only"
ARCFACE_128 = Preprocess(size=128, template="arcface", mean=(0, 0, 0), std=(255, 255, 255))

ENTRIES: tuple[ModelEntry, ...] = (
    # -- swappers -------------------------------------------------------------------------------
    ModelEntry(
        "inswapper_128",
        "swap",
        "inswapper",
        "onnx",
        "inswapper_128.onnx",
        (_DLC + "inswapper_128.onnx", _FF_ASSETS + "inswapper_128.onnx"),
        INSIGHTFACE_LICENCE,
        True,
        size=554_253_681,
        sha256="e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af",
        preprocess=Preprocess(size=128, template="arcface", max_batch=1),
        pairs_with="arcface_w600k_r50",
        source=_MANIFEST,
        notes="inputs target [1,3,128,128] RGB 0..1 and source [1,512] = normed ArcFace @ emap",
    ),
    ModelEntry(
        "inswapper_128_fp16",
        "swap",
        "inswapper",
        "onnx",
        "inswapper_128_fp16.onnx",
        (_DLC + "inswapper_128_fp16.onnx",),
        INSIGHTFACE_LICENCE,
        True,
        size=277_680_638,
        sha256="6d51a9278a1f650cffefc18ba53f38bf2769bf4bbff89267822cf72945f8a38b",
        preprocess=Preprocess(size=128, template="arcface", max_batch=1),
        pairs_with="arcface_w600k_r50",
        source=_MANIFEST,
    ),
    *(
        ModelEntry(
            f"reswapper_{size}_{step}" + ("_onnx" if fmt == "onnx" else ""),
            "swap",
            "reswapper",
            fmt,
            f"reswapper{'' if size == 128 else '_256'}-{step}.{'pth' if fmt == 'torch' else 'onnx'}",
            (
                _RESWAP
                + f"reswapper{'' if size == 128 else '_256'}-{step}."
                + ("pth" if fmt == "torch" else "onnx"),
            ),
            "ReSwapper: see the model page (trained on inswapper outputs: inswapper terms apply)",
            True,
            preprocess=Preprocess(size=size, template="arcface"),
            pairs_with="arcface_w600k_r50",
            notes="same architecture as inswapper_128; fully convolutional",
        )
        for size, step in ((128, 429500), (128, 1019500), (256, 1399500), (256, 1567500))
        for fmt in ("torch", "onnx")
    ),
    *(
        ModelEntry(
            f"hyperswap_{version}_256",
            "swap",
            "hyperswap",
            "onnx",
            f"hyperswap_{version}_256.onnx",
            (_FF3.format(3) + f"hyperswap_{version}_256.onnx",),
            "ResearchRAIL-MS (FaceFusion): research use only",
            True,
            # FaceFusion's arcface_128 template (twoface.swap.hyperswap), BGR in [-1, 1].
            preprocess=Preprocess(
                size=256,
                template="facefusion_arcface_128",
                colour="BGR",
                mean=(127.5,) * 3,
                std=(127.5,) * 3,
            ),
            pairs_with="arcface_w600k_r50",
            source="FaceFusion's face_swapper model set (models-3.3.0); size and digest pinned",
            notes="inputs source [N,512] normed ArcFace (w600k_r50) and target [N,3,256,256]",
        )
        for version in ("1a", "1b", "1c")
    ),
    ModelEntry(
        "simswap_224",
        "swap",
        "simswap",
        "torch",
        "simswap_224_latest_net_G.pth",
        (_SIMSWAP + "1.0/checkpoints.zip",),
        "CC BY-NC 4.0",
        True,
        member="people/latest_net_G.pth",
        preprocess=Preprocess(
            size=224, template="insightface_pose", mean=(0, 0, 0), std=(255, 255, 255)
        ),
        pairs_with="simswap_arcface",
    ),
    ModelEntry(
        "simswap_512",
        "swap",
        "simswap",
        "torch",
        "simswap_512_550000_net_G.pth",
        (_SIMSWAP + "512_beta/512.zip",),
        "CC BY-NC 4.0",
        True,
        member="512/550000_net_G.pth",
        preprocess=Preprocess(size=512, template="ffhq", mean=(0, 0, 0), std=(255, 255, 255)),
        pairs_with="simswap_arcface",
    ),
    *(
        ModelEntry(
            f"ghost_{kind}_{blocks}",
            "swap",
            f"aei_{kind}",
            "torch",
            f"G_{kind}_{blocks}.pth",
            (_GHOST + f"sber-swap-v2.0/G_{kind}_{blocks}.pth",),
            "Apache-2.0",
            False,
            # The 224 crop (insightface's pose templates) is resized to 256 for the network.
            preprocess=Preprocess(
                size=224, template="insightface_pose", mean=(127.5,) * 3, std=(127.5,) * 3
            ),
            pairs_with="ghost_arcface_iresnet100",
        )
        for kind, blocks in (
            ("unet", "1block"),
            ("unet", "2blocks"),
            ("unet", "3blocks"),
            ("linknet", "2blocks"),
        )
    ),
    # -- identity encoders ---------------------------------------------------------------------
    ModelEntry(
        "arcface_w600k_r50",
        "identity",
        "iresnet50",
        "onnx",
        "w600k_r50.onnx",
        (_INSIGHT + "buffalo_l/w600k_r50.onnx", _DLC + "buffalo_l/buffalo_l/w600k_r50.onnx"),
        INSIGHTFACE_LICENCE,
        True,
        size=174_383_860,
        sha256="4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
        preprocess=Preprocess(size=112, template="arcface", mean=(127.5,) * 3, std=(127.5,) * 3),
        source=_MANIFEST,
    ),
    ModelEntry(
        "ghost_arcface_iresnet100",
        "identity",
        "iresnet100",
        "torch",
        "backbone.pth",
        (_GHOST + "arcface/backbone.pth",),
        "Apache-2.0 (sber-swap)",
        False,
        # sber-swap halves the 224 pose-template crop to 112.
        preprocess=Preprocess(
            size=112, template="insightface_pose", mean=(127.5,) * 3, std=(127.5,) * 3
        ),
    ),
    ModelEntry(
        "simswap_arcface",
        "identity",
        "simswap_arcface",
        "torch",
        "arcface_checkpoint.tar",
        (_SIMSWAP + "1.0/arcface_checkpoint.tar",),
        "CC BY-NC 4.0",
        True,
        # SimSwap resizes its 224 pose-template crop to 112 (nearest), ImageNet mean/std.
        preprocess=Preprocess(
            size=112,
            template="insightface_pose",
            mean=(123.675, 116.28, 103.53),
            std=(58.395, 57.12, 57.375),
        ),
        notes="a pickled model object: loaded through the restricted unpickler",
    ),
    # -- detectors -------------------------------------------------------------------------------
    ModelEntry(
        "scrfd_10g",
        "detect",
        "scrfd",
        "onnx",
        "det_10g.onnx",
        (_INSIGHT + "buffalo_l/det_10g.onnx", _DLC + "buffalo_l/buffalo_l/det_10g.onnx"),
        INSIGHTFACE_LICENCE,
        True,
        size=16_923_827,
        sha256="5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
        preprocess=Preprocess(
            size=640, colour="RGB", mean=(127.5,) * 3, std=(128.0,) * 3, max_batch=1
        ),
        source=_MANIFEST,
    ),
    ModelEntry(
        "scrfd_2.5g",
        "detect",
        "scrfd",
        "onnx",
        "det_2.5g.onnx",
        (_INSIGHT + "buffalo_m/det_2.5g.onnx",),
        INSIGHTFACE_LICENCE,
        True,
        preprocess=Preprocess(size=640, mean=(127.5,) * 3, std=(128.0,) * 3, max_batch=1),
    ),
    ModelEntry(
        "scrfd_500m",
        "detect",
        "scrfd",
        "onnx",
        "det_500m.onnx",
        (_INSIGHT + "buffalo_s/det_500m.onnx",),
        INSIGHTFACE_LICENCE,
        True,
        sha256="5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a",
        preprocess=Preprocess(size=640, mean=(127.5,) * 3, std=(128.0,) * 3, max_batch=1),
        source=_UNIFACE,
    ),
    ModelEntry(
        "scrfd_500m_bnkps_dynamic",
        "detect",
        "scrfd",
        "onnx",
        "scrfd_500m_bnkps.onnx",
        (),
        "Apache-2.0 (SCRFD code); weights: InsightFace terms",
        True,
        preprocess=Preprocess(size=640, mean=(127.5,) * 3, std=(128.0,) * 3),
        notes="a batch-dynamic export; import your copy with `twoface models import`",
    ),
    ModelEntry(
        "scrfd_2.5g_mmdet",
        "detect",
        "scrfd_mmdet",
        "torch",
        "scrfd_2.5g_mmdet.pth",
        (),
        "InsightFace models: non-commercial research only",
        True,
        preprocess=Preprocess(size=640, mean=(127.5,) * 3, std=(128.0,) * 3),
        notes="mmdetection checkpoint (no keypoints); import your copy",
    ),
    ModelEntry(
        "retinaface_mobilenet0.25",
        "detect",
        "retinaface_mobilenet",
        "torch",
        "detection_mobilenet0.25_Final.pth",
        (_FACEXLIB + "v0.1.0/detection_mobilenet0.25_Final.pth",),
        "MIT (Pytorch_Retinaface)",
        False,
        preprocess=Preprocess(colour="BGR", mean=(104.0, 117.0, 123.0), std=(1.0, 1.0, 1.0)),
    ),
    ModelEntry(
        "retinaface_resnet50",
        "detect",
        "retinaface_resnet50",
        "torch",
        "detection_Resnet50_Final.pth",
        (_FACEXLIB + "v0.1.0/detection_Resnet50_Final.pth",),
        "MIT (Pytorch_Retinaface)",
        False,
        preprocess=Preprocess(colour="BGR", mean=(104.0, 117.0, 123.0), std=(1.0, 1.0, 1.0)),
    ),
    *(
        ModelEntry(
            f"yunet_{v}",
            "detect",
            "yunet",
            "onnx",
            f"yunet_{v}_dynamic.onnx",
            (),
            "MIT (libfacedetection.train)",
            False,
            preprocess=Preprocess(colour="BGR", mean=(0,) * 3, std=(1,) * 3),
            notes="batch-dynamic export from libfacedetection.train; import your copy",
        )
        for v in ("s", "n")
    ),
    ModelEntry(
        "yunet_2023mar",
        "detect",
        "yunet",
        "onnx",
        "face_detection_yunet_2023mar.onnx",
        (
            "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
            "face_detection_yunet_2023mar.onnx",
        ),
        "MIT (OpenCV Zoo)",
        False,
        preprocess=Preprocess(size=640, colour="BGR", mean=(0,) * 3, std=(1,) * 3, max_batch=1),
    ),
    # -- landmarks, parsing, restoration ---------------------------------------------------------
    ModelEntry(
        "landmarks_2d106det",
        "landmarks",
        "2d106det",
        "onnx",
        "2d106det.onnx",
        (_INSIGHT + "buffalo_l/2d106det.onnx", _DLC + "buffalo_l/buffalo_l/2d106det.onnx"),
        INSIGHTFACE_LICENCE,
        True,
        size=5_030_888,
        sha256="f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf",
        preprocess=Preprocess(size=192, mean=(0,) * 3, std=(1,) * 3),
        source=_MANIFEST,
    ),
    ModelEntry(
        "bisenet_parsing",
        "parse",
        "bisenet",
        "torch",
        "parsing_bisenet.pth",
        (_FACEXLIB + "v0.2.0/parsing_bisenet.pth",),
        "MIT (face-parsing.PyTorch)",
        False,
        preprocess=_IMAGENET,
        notes="facexlib's copy of face-parsing.PyTorch's 79999_iter.pth",
    ),
    ModelEntry(
        "bisenet_79999",
        "parse",
        "bisenet",
        "torch",
        "79999_iter.pth",
        ("https://huggingface.co/hacksider/deep-live-cam/resolve/main/79999_iter.pth",),
        "MIT (face-parsing.PyTorch)",
        False,
        preprocess=_IMAGENET,
        notes="face-parsing.PyTorch's published checkpoint (CelebAMask-HQ, 19 classes)",
    ),
    *(
        _facefusion(
            f"bisenet_resnet_{d}",
            "parse",
            "bisenet_onnx",
            r,
            "MIT (yakhyo/face-parsing)",
            False,
            _IMAGENET,
        )
        for d, r in ((18, 1), (34, 0))
    ),
    *(
        _facefusion(
            f"xseg_{v}",
            "occlude",
            "xseg",
            r,
            "GPL-3.0 (DeepFaceLab's XSeg)",
            False,
            Preprocess(size=256, colour="BGR", std=(255,) * 3),
        )
        for v, r in ((1, 1), (2, 1), (3, 2))
    ),
    *(
        _facefusion(
            f"gfpgan_{v}_onnx",
            "restore",
            "restorer_onnx",
            0,
            "Apache-2.0 (GFPGAN)",
            False,
            _MINUS1_1,
            notes=f"FaceFusion's ONNX export of GFPGANv{v}",
            file=f"gfpgan_{v}.onnx",
        )
        for v in ("1.2", "1.3", "1.4")
    ),
    _facefusion(
        "codeformer_onnx",
        "restore",
        "restorer_onnx",
        0,
        "S-Lab License 1.0 (non-commercial)",
        True,
        _MINUS1_1,
        notes="FaceFusion's ONNX export of codeformer.pth; takes the fidelity weight",
        file="codeformer.onnx",
    ),
    _facefusion(
        "gpen_bfr_256",
        "restore",
        "restorer_onnx",
        0,
        "GPEN: non-commercial",
        True,
        Preprocess(size=256, template="arcface", mean=(127.5,) * 3, std=(127.5,) * 3),
    ),
    _facefusion(
        "gpen_bfr_512", "restore", "restorer_onnx", 0, "GPEN: non-commercial", True, _MINUS1_1
    ),
    _facefusion(
        "restoreformer_plus_plus",
        "restore",
        "restorer_onnx",
        0,
        "Apache-2.0 (RestoreFormer++)",
        False,
        _MINUS1_1,
    ),
    ModelEntry(
        "ghost_sr",
        "restore",
        "ghost_sr",
        "torch",
        "10_net_G.pth",
        (_GHOST + "super-res/10_net_G.pth",),
        "CC BY-NC-SA 4.0 (SPADE/HiFaceGAN network code; sber-swap is Apache-2.0)",
        True,
        preprocess=Preprocess(size=256, template="insightface_pose", std=(255,) * 3),
        notes="GHOST's pix2pix (LIP-SPADE) face super-resolution; --ghost-sr runs it as sber-swap does",
    ),
    ModelEntry(
        "gfpgan_1.3",
        "restore",
        "gfpgan",
        "torch",
        "GFPGANv1.3.pth",
        ("https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.3.pth",),
        "Apache-2.0",
        False,
        preprocess=_MINUS1_1,
    ),
    ModelEntry(
        "gfpgan_1.4",
        "restore",
        "gfpgan",
        "torch",
        "GFPGANv1.4.pth",
        ("https://github.com/TencentARC/GFPGAN/releases/download/v1.3.4/GFPGANv1.4.pth",),
        "Apache-2.0",
        False,
        sha256="e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad",
        source=_RESTORE_MANIFEST,
        preprocess=Preprocess(size=512, template="ffhq", mean=(127.5,) * 3, std=(127.5,) * 3),
    ),
    ModelEntry(
        "codeformer",
        "restore",
        "codeformer",
        "torch",
        "codeformer.pth",
        ("https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",),
        "S-Lab License 1.0 (non-commercial)",
        True,
        sha256="1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7",
        source=_RESTORE_MANIFEST,
        preprocess=Preprocess(size=512, template="ffhq", mean=(127.5,) * 3, std=(127.5,) * 3),
    ),
    # -- anime -------------------------------------------------------------------------------------
    ModelEntry(
        "anime_lbpcascade",
        "anime-detect",
        "lbp_cascade",
        "cascade-xml",
        "lbpcascade_animeface.xml",
        (
            "https://raw.githubusercontent.com/nagadomi/lbpcascade_animeface/master/"
            "lbpcascade_animeface.xml",
        ),
        "no licence file in its repository",
        False,
        size=246_945,
        sha256="9376d30ac38db6bda2a68b88b3b76bbd7e6aa33af47f7f5c76bc88ca75f1ce30",
        source="hashed from the project's reference copy, whose size matches the published file",
    ),
    ModelEntry(
        "anime_yolov3",
        "anime-detect",
        "anime_yolov3",
        "torch",
        "mmdet_anime-face_yolov3.pth",
        (_ANIME + "mmdet_anime-face_yolov3.pth",),
        "MIT (anime-face-detector)",
        False,
        preprocess=Preprocess(size=608, mean=(0,) * 3, std=(255,) * 3),
    ),
    ModelEntry(
        "anime_faster_rcnn",
        "anime-detect",
        "anime_faster_rcnn",
        "torch",
        "mmdet_anime-face_faster-rcnn.pth",
        (_ANIME + "mmdet_anime-face_faster-rcnn.pth",),
        "MIT (anime-face-detector)",
        False,
        preprocess=Preprocess(
            size=1333, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)
        ),
    ),
    *(
        ModelEntry(
            f"anime_{arch}_safetensors",
            "landmarks" if arch == "hrnetv2" else "anime-detect",
            f"anime_{arch}",
            "safetensors",
            f"anime-face-detector-{arch.replace('_', '-')}.safetensors",
            (),
            "MIT (anime-face-detector)",
            False,
            notes=f"the model hub's safetensors copy (hysts/anime-face-detector-{arch.replace('_', '-')}),"
            " same key names as the .pth; import it under this name",
        )
        for arch in ("yolov3", "faster_rcnn", "hrnetv2")
    ),
    ModelEntry(
        "anime_hrnetv2",
        "landmarks",
        "anime_hrnetv2",
        "torch",
        "mmpose_anime-face_hrnetv2.pth",
        (_ANIME + "mmpose_anime-face_hrnetv2.pth",),
        "MIT (anime-face-detector)",
        False,
        preprocess=Preprocess(
            size=256, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)
        ),
    ),
)


def _index(entries: tuple[ModelEntry, ...]) -> dict[str, ModelEntry]:
    out: dict[str, ModelEntry] = {}
    for e in entries:
        if e.name in out:
            raise ValueError(f"duplicate catalogue entry {e.name!r}")
        out[e.name] = e
    return out


CATALOGUE: dict[str, ModelEntry] = _index(ENTRIES)


class Catalogue(Mapping[str, ModelEntry]):
    """The models one store knows: the published entries, then that store's user models (names
    a published entry never has). A read-only value: a store makes a new one when a model is
    imported, so two stores never see each other's models."""

    def __init__(
        self, user: Iterable[ModelEntry] = (), published: Mapping[str, ModelEntry] = CATALOGUE
    ) -> None:
        self._published = published
        self._user = {e.name: e for e in user if e.name not in published}

    def __getitem__(self, name: str) -> ModelEntry:
        entry = self._published.get(name)
        return entry if entry is not None else self._user[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._published
        yield from (n for n in self._user if n not in self._published)

    def __len__(self) -> int:
        return len(self._published) + sum(n not in self._published for n in self._user)

    @property
    def user(self) -> list[ModelEntry]:
        """The store's own models (imported under their own names)."""
        return list(self._user.values())

    def with_user(self, entries: Iterable[ModelEntry]) -> Catalogue:
        """This catalogue with `entries` as its user models (an entry replaces its namesake)."""
        return Catalogue({**self._user, **{e.name: e for e in entries}}.values(), self._published)


# `twoface models get --recommended`: the learned path in one command. The swapper with the most
# faithful published weights (inswapper_128) and the identity encoder it was trained with, a
# detector, a face parser and an occluder for the masks, and a restorer -- all ONNX, so they run
# on the default install (onnxruntime), with no PyTorch.
RECOMMENDED: tuple[str, ...] = (
    "inswapper_128",
    "arcface_w600k_r50",
    "scrfd_10g",
    "bisenet_resnet_34",
    "xseg_1",
    "gfpgan_1.4_onnx",
)
