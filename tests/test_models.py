"""The tiny Qwen2.5-VL and its adapter: save/load round trip, prompts, generation, log-probs, frames."""
import dataclasses

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoTokenizer

from mixed_r1.models import Completions, passes


def test_tiny_model_round_trips_through_from_pretrained(family_adapter, tmp_path, samples):
    adapter = family_adapter
    model = adapter.load_model()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))  # make it differ from the freshly built weights
    adapter.save(model, str(tmp_path / "ckpt"))
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path / "ckpt")
    # the same class the adapter loads, and transformers' own (not remote code), whatever the family
    assert type(loaded) is type(model) and type(loaded).__module__.startswith("transformers.models.")
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    tok = AutoTokenizer.from_pretrained(tmp_path / "ckpt")
    assert tok.convert_tokens_to_ids(adapter.SUPPRESSED_TOKENS[0]) == adapter.suppressed_ids[0]
    batch = adapter.prompt_batch(samples[:2])
    comp = passes.encode_targets(adapter, ["<think>a</think><answer>yes</answer>"] * 2)
    assert torch.allclose(passes.completion_logprobs(adapter, model, batch, comp),
                          passes.completion_logprobs(adapter, loaded, batch, comp), atol=1e-6)


def test_prompt_has_chat_frame_image_tokens_and_instruction(adapter, samples):
    batch = adapter.prompt_batch(samples[:3])
    text = adapter.tokenizer.decode(batch.input_ids[0][batch.attention_mask[0].bool()])
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    assert samples[0].problem in text and "<think> </think>" in text
    n_image = (batch.input_ids == adapter.image_token_id).sum(dim=1)
    assert (n_image == batch.row_inputs["image_grid_thw"].prod(-1) // 4).all()
    assert (batch.attention_mask[:, -1] == 1).all()  # left padding


def test_padded_batch_logprobs_equal_each_sequence_alone(family_adapter, samples, wide_sample):
    adapter = family_adapter
    torch.manual_seed(0)
    model = adapter.load_model(trainable=False)
    chosen = [s for s in samples if s.type == "open_ended"][:1] + [wide_sample]
    batch = adapter.prompt_batch(chosen)
    assert (batch.attention_mask == 0).any(), "the test needs prompts of different lengths"
    together_prompts = batch.repeat(2)
    comps = passes.generate(adapter, model, together_prompts, temperature=1.0, max_new_tokens=12)
    assert comps.ids.shape[0] == 4
    together = passes.completion_logprobs(adapter, model, together_prompts, comps)
    for row in range(4):
        alone = passes.completion_logprobs(adapter, model, adapter.prompt_batch([chosen[row // 2]]),
                                           comps.select(slice(row, row + 1)))
        diff = ((alone - together[row:row + 1]).abs() * comps.mask[row:row + 1]).max()
        assert diff < 1e-5, (row, diff)


def test_generation_never_samples_vision_tokens_and_mask_stops(family_adapter, samples):
    adapter = family_adapter
    torch.manual_seed(1)
    model = adapter.load_model(trainable=False)
    comps = passes.generate(adapter, model, adapter.prompt_batch(samples[:2]).repeat(4), 1.0, 30)
    assert not torch.isin(comps.ids, torch.tensor(adapter.suppressed_ids)).any()
    ids = torch.tensor([[5, adapter.stop_token_id, 7, 8], [5, 6, 7, 8]])
    assert adapter.stop_mask(ids).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


def test_select_slices_rows_with_their_images(family_adapter, samples, wide_sample):
    adapter = family_adapter
    batch = adapter.prompt_batch(samples[:2] + [wide_sample]).repeat(2)
    part = batch.select(slice(2, 5))
    assert torch.equal(part.input_ids, batch.input_ids[2:5])
    per_image = batch.patches_per_row
    assert per_image[0] == per_image[1] and per_image[4] > per_image[0] and part.patches_per_row == per_image[2:5]
    start = sum(per_image[:2])
    assert torch.equal(part.pixel_values, batch.pixel_values[start:start + sum(per_image[2:5])])
    for key, value in batch.row_inputs.items():
        assert torch.equal(part.row_inputs[key], value[2:5])


def test_box_frame_follows_the_processor_resize(adapter):
    # 56x56 stays 56x56 (within min/max pixels, multiple of 28): identity
    assert adapter.box_to_model_frame([1, 2, 30, 40], (56, 56)) == [1, 2, 30, 40]
    # 200x100 rounds to 196x112 = 21952 px > max_pixels=12544: scaled by sqrt(20000/12544) and floored to
    # multiples of 28 → 140x56
    assert adapter.resized((200, 100)) == (140, 56)
    assert adapter.box_to_model_frame([100, 50, 200, 100], (200, 100)) == pytest.approx([70.0, 28.0, 140.0, 56.0])
    assert adapter.box_to_text([100, 50, 200, 100], (200, 100)) == "[70, 28, 140, 56]"


def test_embeddings_are_the_policy_input_embedding_rows(family_adapter):
    adapter = family_adapter
    model = adapter.load_model(trainable=False)
    ids = adapter.token_ids(["a red circle", "yes"])
    assert ids[0] == adapter.tokenizer("a red circle", add_special_tokens=False)["input_ids"]
    assert not set(adapter.suppressed_ids) & set(ids[0]) and len(ids[1]) >= 1
    assert torch.equal(adapter.input_embeddings(model), model.get_input_embeddings().weight)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_forward_logprobs_match_the_sampling_distribution_of_generate(family_adapter, samples, wide_sample,
                                                                      temperature):
    """The re-forward (3-D rotary positions over prompt + completion, left padding) must score each
    sampled token exactly as generate's own logits did, at the sampling temperature."""
    adapter = family_adapter
    torch.manual_seed(2)
    model = adapter.load_model(trainable=False)
    batch = adapter.prompt_batch([s for s in samples if s.type == "open_ended"][:1] + [wide_sample])
    config = passes.sampling_config(adapter, temperature=temperature, max_new_tokens=10)
    config.update(output_logits=True, output_scores=True, return_dict_in_generate=True)
    with torch.no_grad():
        out = model.generate(**batch.model_inputs(), generation_config=config)
    ids = out.sequences[:, batch.input_ids.shape[1]:]
    comps = Completions(ids, adapter.stop_mask(ids))
    raw = torch.stack(out.logits, dim=1).float()  # [B, Tc, V] before logits processors
    scores = torch.stack(out.scores, dim=1).float()  # [B, Tc, V] what generate sampled from
    allowed = torch.isfinite(scores)
    # generate sampled from logits / T (suppressed vision tokens aside): the same temperature as ours
    assert torch.allclose(scores[allowed], (raw / temperature)[allowed], rtol=1e-5, atol=1e-5)
    expected = torch.log_softmax(raw / temperature, -1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    got = passes.completion_logprobs(adapter, model, batch, comps, temperature=temperature)
    assert ((got - expected).abs() * comps.mask).max() < 1e-4
    if temperature != 1.0:  # and the temperature matters: at T=1 the same tokens score differently
        plain = passes.completion_logprobs(adapter, model, batch, comps, temperature=1.0)
        assert ((plain - got).abs() * comps.mask).max() > 1e-3


def test_saved_chat_template_formats_prompts_like_the_adapter(adapter, samples):
    from mixed_r1.models import question_text

    sample = samples[0]
    messages = [{"role": "user", "content": [{"type": "image"},
                                             {"type": "text", "text": question_text(sample, adapter.prompt)}]}]
    rendered = adapter.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == adapter.chat_text(sample, "<|vision_start|><|image_pad|><|vision_end|>")


def test_internvl_prompt_tiles_and_box_frame(tmp_path_factory, wide_sample):
    from tests.conftest import _build_adapter, compose_train

    adapter = _build_adapter(compose_train(["model=tiny_internvl"], run_dir=tmp_path_factory.mktemp("ivl")))
    batch = adapter.prompt_batch([wide_sample])
    tiles = batch.patches_per_row[0]
    assert tiles > 1 and batch.pixel_values.shape[0] == tiles  # wide image: several tiles + thumbnail
    context = (batch.input_ids == adapter.tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")).sum().item()
    assert context == adapter.tokens_per_tile * tiles
    # 0-1000 frame of the original image, both ways, on an odd size
    box = [15.1, 6.1, 151.0, 61.0]
    frame = adapter.box_to_model_frame(box, (151, 61))
    assert frame == pytest.approx([100.0, 100.0, 1000.0, 1000.0])
    assert adapter.box_to_text(box, (151, 61)) == "<box>[[100, 100, 1000, 1000]]</box>"
    back = [frame[0] * 151 / 1000, frame[1] * 61 / 1000, frame[2] * 151 / 1000, frame[3] * 61 / 1000]
    assert back == pytest.approx(box)


def test_adapter_rejects_a_checkpoint_of_another_family(adapter, tmp_path):
    import json

    from mixed_r1.errors import ConfigError
    from mixed_r1.models import ADAPTERS
    from tests.conftest import compose_train, model_and_prompt

    model, prompt = model_and_prompt(compose_train(["model=tiny_internvl"], run_dir=tmp_path))
    qwen = dataclasses.replace(model, path=adapter.settings.path)  # a Qwen2.5-VL checkpoint
    with pytest.raises(ConfigError, match="holds a 'qwen2_5_vl' checkpoint but model.adapter=internvl"):
        ADAPTERS["internvl"](qwen, prompt, torch.device("cpu"))
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "config.json").write_text(json.dumps({"model_type": "internvl_chat"}))
    with pytest.raises(ConfigError, match="convert_internvl_weights_to_hf"):
        ADAPTERS["internvl"](dataclasses.replace(model, path=str(remote)), prompt, torch.device("cpu"))


def test_no_thinking_prompt_drops_the_reasoning_instruction(adapter, samples):
    from omegaconf import OmegaConf

    from mixed_r1.models import question_text

    mc = next(s for s in samples if s.type == "multiple_choice")
    thinking = question_text(mc, adapter.prompt)
    plain = question_text(mc, OmegaConf.merge(adapter.prompt, {"thinking": False}))
    assert "<think>" in thinking and "<think>" not in plain
    assert mc.problem in plain and "Answer with the option's letter." in plain


@pytest.mark.parametrize("size", [(151, 61), (57, 333), (1001, 997), (28, 28)])
def test_box_frame_is_the_familys_own_on_odd_sizes(family_adapter, size):
    box = [size[0] * 0.13, size[1] * 0.27, size[0] * 0.91, size[1] * 0.66]
    frame = family_adapter.box_to_model_frame(box, size)
    assert all(v >= 0 for v in frame)
    # the frame is the family's own: pixels of the processor-resized image, or InternVL's 0-1000 scale
    if family_adapter.MODEL_TYPE == "qwen2_5_vl":
        width, height = family_adapter.resized(size)
        assert frame == pytest.approx([box[0] * width / size[0], box[1] * height / size[1],
                                       box[2] * width / size[0], box[3] * height / size[1]])
    else:
        assert frame == pytest.approx([v * 1000 / size[i % 2] for i, v in enumerate(box)])


def test_saved_image_processor_gives_the_same_pixels(family_adapter, wide_sample, tmp_path):
    from transformers import AutoImageProcessor

    model = family_adapter.load_model(trainable=False)
    family_adapter.save(model, str(tmp_path / "ckpt"))
    reloaded = AutoImageProcessor.from_pretrained(tmp_path / "ckpt")
    from PIL import Image

    image = Image.open(wide_sample.image).convert("RGB")
    a = family_adapter.image_processor(images=[image], return_tensors="pt")
    b = reloaded(images=[image], return_tensors="pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_entropy_matches_the_full_softmax(family_adapter, samples):
    adapter = family_adapter
    torch.manual_seed(4)
    model = adapter.load_model(trainable=False)
    batch = adapter.prompt_batch(samples[:2])
    comps = passes.generate(adapter, model, batch, temperature=1.0, max_new_tokens=6)
    logprobs, entropy = passes.completion_logprobs(adapter, model, batch, comps, return_entropy=True)
    full = model(**{**batch.model_inputs(), **adapter.completion_row_inputs(batch, comps),
                    "input_ids": torch.cat([batch.input_ids, comps.ids], 1),
                    "attention_mask": torch.cat([batch.attention_mask, comps.mask], 1)}).logits
    logp = torch.log_softmax(full[:, batch.input_ids.shape[1] - 1:-1].float(), -1)  # [B, Tc, V]
    assert torch.allclose(entropy, -(logp.exp() * logp).sum(-1), atol=1e-4)
    assert torch.allclose(logprobs, logp.gather(-1, comps.ids.unsqueeze(-1)).squeeze(-1), atol=1e-5)
