"""Tiny randomly initialised scorer models built from configs, saved as hub-style folders (model + processor).

Every builder takes a folder, writes the model with save_pretrained next to its processor and returns the folder,
so a scorer loads it exactly as it would load a hub download. Models are tiny (hidden sizes 16-32, one or two
layers, 32-64 px images). Tokenizers are local: a word-level vocabulary trained with the `tokenizers` package on
the CompBench prompts shipped in tests/data (not ../shared, which a user's install lacks) plus the shapes-world
words, laid out like BERT's (so [CLS]=101, [SEP]=102, '.'=1012 and '?'=1029, the ids Grounding DINO hard-codes).
conftest.py exposes each builder as a session-scoped fixture.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"
TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
# BERT's layout: specials where bert-base-uncased has them, unused filler up to the first real word
BERT_SLOTS = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]", 104: "[DEC]", 1012: ".", 1029: "?"}
BERT_FIRST_WORD = 1030


def corpus() -> list[str]:
    """The lines the tokenizers are trained on: CompBench sample prompts, their questions, the world's words."""
    from diffalign.world.vocab import words

    lines = []
    for name in ("compbench_sample.jsonl", "compbench_questions.jsonl"):
        for row in map(json.loads, (DATA / name).read_text().splitlines()):
            lines.append(row["prompt"])
            lines.extend(q["text"] for q in row.get("questions", []))
    return lines + [" ".join(words()), "yes no"]


@lru_cache(maxsize=1)
def trained_words() -> tuple[str, ...]:
    """A word-level vocabulary trained with `tokenizers` (lower-cased, punctuation split off), most frequent first."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(corpus(), trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    vocab = tok.get_vocab()
    return tuple(w for w in sorted(vocab, key=vocab.get) if w not in BERT_SLOTS.values())


def bert_tokenizer(max_length: int = 32):
    """A BertTokenizerFast over the trained words in BERT's id layout."""
    from transformers import BertTokenizerFast

    vocab = [BERT_SLOTS.get(i, f"[unused{i}]") for i in range(BERT_FIRST_WORD)] + list(trained_words())
    return BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True,
                             model_max_length=max_length, bos_token="[DEC]")


def clip_tokenizer():
    """The built-in model's CLIP tokenizer (shipped in the package, so local)."""
    from transformers import CLIPTokenizer

    from diffalign.builtin import BUILTIN_MODEL_DIR

    return CLIPTokenizer.from_pretrained(BUILTIN_MODEL_DIR / "tokenizer")


def _blip_image_processor(size: int = 32):
    from transformers.models.blip import BlipImageProcessorPil

    return BlipImageProcessorPil(size={"height": size, "width": size})


def _blip_config(tok, size: int = 32):
    from transformers import BlipConfig

    return BlipConfig(vision_config=dict(image_size=size, patch_size=8, **TOWER),
                      text_config=dict(vocab_size=len(tok), encoder_hidden_size=32, max_position_embeddings=32,
                                       bos_token_id=tok.bos_token_id, sep_token_id=tok.sep_token_id,
                                       eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id, **TOWER),
                      projection_dim=32)


def build_blip_captioner(out: Path) -> Path:
    """BlipForConditionalGeneration (model_type blip), the layout of Salesforce/blip-image-captioning-*."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    tok = bert_tokenizer()
    torch.manual_seed(0)
    BlipForConditionalGeneration(_blip_config(tok)).save_pretrained(out)
    BlipProcessor(image_processor=_blip_image_processor(), tokenizer=tok).save_pretrained(out)
    return out


def build_blip_vqa(out: Path) -> Path:
    """BlipForQuestionAnswering (model_type blip), the layout of Salesforce/blip-vqa-base."""
    from transformers import BlipForQuestionAnswering, BlipProcessor

    tok = bert_tokenizer()
    torch.manual_seed(0)
    BlipForQuestionAnswering(_blip_config(tok)).save_pretrained(out)
    BlipProcessor(image_processor=_blip_image_processor(), tokenizer=tok).save_pretrained(out)
    return out


def build_blip2(out: Path) -> Path:
    """Blip2ForConditionalGeneration with a one-layer OPT language model (the layout of Salesforce/blip2-opt-*)."""
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, OPTConfig

    queries = 4
    processor = Blip2Processor(image_processor=_blip_image_processor(), tokenizer=bert_tokenizer(),
                               num_query_tokens=queries)  # adds the <image> token
    tok = processor.tokenizer
    text = OPTConfig(vocab_size=len(tok), hidden_size=32, ffn_dim=64, num_hidden_layers=1, num_attention_heads=2,
                     word_embed_proj_dim=32, max_position_embeddings=64, bos_token_id=tok.cls_token_id,
                     eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id)
    config = Blip2Config(vision_config=dict(image_size=32, patch_size=8, **TOWER),
                         qformer_config=dict(vocab_size=len(tok), encoder_hidden_size=32, max_position_embeddings=32,
                                             cross_attention_frequency=1, **TOWER),
                         text_config=text.to_dict(), num_query_tokens=queries,
                         image_token_index=tok.convert_tokens_to_ids("<image>"))
    torch.manual_seed(0)
    Blip2ForConditionalGeneration(config).save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _owl_config(config_class):
    tok = clip_tokenizer()
    text = dict(vocab_size=len(tok), max_position_embeddings=tok.model_max_length, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id, **TOWER)
    return tok, config_class(text_config=text, vision_config=dict(image_size=64, patch_size=16, **TOWER),
                             projection_dim=32)


def build_owlvit(out: Path) -> Path:
    """OwlViTForObjectDetection (model_type owlvit), the layout of google/owlvit-base-patch32."""
    from transformers import OwlViTConfig, OwlViTForObjectDetection, OwlViTProcessor
    from transformers.models.owlvit import OwlViTImageProcessorPil

    tok, config = _owl_config(OwlViTConfig)
    torch.manual_seed(0)
    OwlViTForObjectDetection(config).save_pretrained(out)
    square = {"height": 64, "width": 64}
    OwlViTProcessor(image_processor=OwlViTImageProcessorPil(size=square, crop_size=square),
                    tokenizer=tok).save_pretrained(out)
    return out


def build_owlv2(out: Path) -> Path:
    """Owlv2ForObjectDetection (model_type owlv2, with its objectness head), as google/owlv2-base-patch16."""
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2Processor
    from transformers.models.owlv2 import Owlv2ImageProcessorPil

    tok, config = _owl_config(Owlv2Config)
    torch.manual_seed(0)
    Owlv2ForObjectDetection(config).save_pretrained(out)
    Owlv2Processor(image_processor=Owlv2ImageProcessorPil(size={"height": 64, "width": 64}),
                   tokenizer=tok).save_pretrained(out)
    return out


def build_grounding_dino(out: Path) -> Path:
    """GroundingDinoForObjectDetection on a one-block-per-stage Swin (transformers' own, no timm), two decoder layers
    (transformers ties the box heads of layers > 0 to layer 0's, so one is refused) and a one-layer
    BERT, the layout of IDEA-Research/grounding-dino-tiny."""
    from transformers import BertConfig, GroundingDinoConfig, GroundingDinoForObjectDetection, GroundingDinoProcessor
    from transformers import SwinConfig
    from transformers.models.grounding_dino import GroundingDinoImageProcessorPil

    tok = bert_tokenizer(max_length=32)
    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4,
                          out_features=["stage1", "stage2"])
    text = BertConfig(vocab_size=len(tok), max_position_embeddings=32, pad_token_id=tok.pad_token_id, **TOWER)
    config = GroundingDinoConfig(backbone_config=backbone, text_config=text, num_queries=8, encoder_layers=1,
                                 decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
                                 decoder_attention_heads=2, d_model=32, num_feature_levels=2, encoder_n_points=2,
                                 decoder_n_points=2, max_text_len=32, fusion_ffn_dim=32, text_enhancer_dropout=0.0,
                                 fusion_dropout=0.0)
    torch.manual_seed(0)
    GroundingDinoForObjectDetection(config).save_pretrained(out)
    GroundingDinoProcessor(image_processor=GroundingDinoImageProcessorPil(size={"shortest_edge": 64,
                                                                                "longest_edge": 64}),
                           tokenizer=tok).save_pretrained(out)
    return out


def build_sam(out: Path) -> Path:
    """SamModel (model_type sam), the layout of facebook/sam-vit-base."""
    from transformers import SamConfig, SamModel, SamProcessor
    from transformers.models.sam import SamImageProcessorPil

    torch.manual_seed(0)
    SamModel(SamConfig(
        vision_config=dict(image_size=64, patch_size=16, output_channels=32, mlp_dim=64, global_attn_indexes=[0],
                           window_size=2, num_pos_feats=16, **TOWER),
        prompt_encoder_config=dict(hidden_size=32, image_size=64, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, mlp_dim=64,
                                 iou_head_hidden_dim=32))).save_pretrained(out)
    square = {"height": 64, "width": 64}
    SamProcessor(image_processor=SamImageProcessorPil(
        size={"longest_edge": 64}, pad_size=square, mask_size={"longest_edge": 16},
        mask_pad_size={"height": 16, "width": 16})).save_pretrained(out)
    return out


def build_clip(out: Path, projection_dim: int = 16) -> Path:
    """CLIPModel with the built-in CLIP tokenizer and a 32 px image processor (a CLIPProcessor folder)."""
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor
    from transformers.models.clip import CLIPImageProcessorPil

    tok = clip_tokenizer()
    torch.manual_seed(0)
    CLIPModel(CLIPConfig(text_config=dict(vocab_size=len(tok), max_position_embeddings=tok.model_max_length,
                                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                          pad_token_id=tok.eos_token_id, **TOWER),
                         vision_config=dict(image_size=32, patch_size=8, **TOWER),
                         projection_dim=projection_dim)).save_pretrained(out)
    CLIPProcessor(image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                  tokenizer=tok).save_pretrained(out)
    return out


def build_dpt_depth(out: Path) -> Path:
    """DPTForDepthEstimation (model_type dpt), the layout of Intel/dpt-hybrid-midas without its hybrid backbone: a
    four-layer ViT whose every layer feeds the neck."""
    from transformers import DPTConfig, DPTForDepthEstimation
    from transformers.models.dpt import DPTImageProcessorPil

    torch.manual_seed(0)
    DPTForDepthEstimation(DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                                    image_size=32, patch_size=8, backbone_out_indices=[0, 1, 2, 3],
                                    neck_hidden_sizes=[8, 8, 8, 8], fusion_hidden_size=8)).save_pretrained(out)
    DPTImageProcessorPil(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(out)
    return out


BUILDERS = {"blip": build_blip_captioner, "blip_vqa": build_blip_vqa, "blip2": build_blip2, "owlvit": build_owlvit,
            "owlv2": build_owlv2, "grounding_dino": build_grounding_dino, "sam": build_sam, "clip": build_clip,
            "dpt": build_dpt_depth}


# Flow-matching pipelines (SD3 / SD3.5 and Flux), built from configs with the real diffusers and transformers
# classes, 32 px images (a 4 x 4 x 16 latent), saved so `DiffusionPipeline.from_pretrained(folder)` loads them.

SD3_VAE = dict(scaling_factor=1.5305, shift_factor=0.0609)  # stabilityai/stable-diffusion-3-medium's VAE
FLUX_VAE = dict(scaling_factor=0.3611, shift_factor=0.1159)  # black-forest-labs/FLUX.1-dev's VAE
T5_WIDTH = 64


def t5_tokenizer():
    """A T5Tokenizer (tokenizers-backed) over a Unigram model trained with `tokenizers` on the same corpus, T5's
    special ids (<pad> 0, </s> 1, <unk> 2) and no sentinel ids."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import T5Tokenizer

    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.train_from_iterator([line.lower() for line in corpus()], trainers.UnigramTrainer(
        vocab_size=2000, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False))
    vocab = json.loads(unigram.to_str())["model"]["vocab"]
    return T5Tokenizer(vocab=[tuple(v) for v in vocab], extra_ids=0)


def _clip_text(tok, projection: bool):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=len(tok), max_position_embeddings=tok.model_max_length, projection_dim=32,
                            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.eos_token_id, hidden_act="gelu", **{**TOWER, "num_hidden_layers": 2})
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def _t5(tok):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(vocab_size=len(tok), d_model=T5_WIDTH, d_ff=64, d_kv=16, num_layers=1, num_heads=2,
                                   relative_attention_num_buckets=8, pad_token_id=tok.pad_token_id,
                                   eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id))


def _flow_vae(factors: dict):
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, sample_size=32,
                         down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                         block_out_channels=[8, 8, 8, 8], layers_per_block=1, norm_num_groups=4, use_quant_conv=False,
                         use_post_quant_conv=False, **factors)


def build_sd3(out: Path) -> Path:
    """StableDiffusion3Pipeline: an MMDiT (SD3Transformer2DModel, patch 2, 2 joint blocks), two CLIP text encoders
    with projection (pooled 2 x 32) and a T5 encoder, FlowMatchEulerDiscreteScheduler with SD3's shift 3."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    from diffalign.builtin_training.tokenizer import build_tokenizer

    clip_tok, t5_tok = build_tokenizer(out.parent / (out.name + "-tokenizer")), t5_tokenizer()
    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(sample_size=4, patch_size=2, in_channels=16, out_channels=16, num_layers=2,
                                        attention_head_dim=8, num_attention_heads=2, joint_attention_dim=T5_WIDTH,
                                        caption_projection_dim=16, pooled_projection_dim=64, pos_embed_max_size=8)
    pipe = StableDiffusion3Pipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                    vae=_flow_vae(SD3_VAE), text_encoder=_clip_text(clip_tok, True),
                                    tokenizer=clip_tok, text_encoder_2=_clip_text(clip_tok, True),
                                    tokenizer_2=clip_tok, text_encoder_3=_t5(t5_tok), tokenizer_3=t5_tok)
    pipe.save_pretrained(out)
    return out


def build_flux(out: Path) -> Path:
    """FluxPipeline: FluxTransformer2DModel (1 double + 1 single block, guidance embedding, 2 x 2 packed latents,
    64 channels), CLIP pooled + T5, FlowMatchEulerDiscreteScheduler with FLUX.1-dev's resolution-dependent shift."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    from diffalign.builtin_training.tokenizer import build_tokenizer

    clip_tok, t5_tok = build_tokenizer(out.parent / (out.name + "-tokenizer")), t5_tokenizer()
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
                                         attention_head_dim=8, num_attention_heads=2, joint_attention_dim=T5_WIDTH,
                                         pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=(4, 2, 2))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    pipe = FluxPipeline(transformer=transformer, scheduler=scheduler, vae=_flow_vae(FLUX_VAE),
                        text_encoder=_clip_text(clip_tok, False), tokenizer=clip_tok, text_encoder_2=_t5(t5_tok),
                        tokenizer_2=t5_tok)
    pipe.save_pretrained(out)
    return out
