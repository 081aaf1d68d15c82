"""Multi-attempt episodes: who wrote each token, the feedback turns, the budgets, the rewards, and that TRL's
loss never sees the task's tokens (their logits perturbed, the gradient is the same)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas import Artifact, GrpoStage
from schemas.tasks import MultiAttemptTask
from stages._context import StageError
from stages._episodes import MultiAttempt, episode_reward, prompt_index, prompt_key, rollout_func
from stages._models import load_tokenizer

ROW = {"id": "q1", "prompt": "What is 2 + 3?", "answer": "5", "meta": {"extract": "answer_tag"}}


def _task(**options) -> MultiAttemptTask:
    return MultiAttemptTask(kind="multi_attempt", **{"min_attempts": 3, "max_attempts": 3, **options})


def _runner(tokenizer, task: MultiAttemptTask, max_tokens: int = 400, rows=(ROW,)) -> MultiAttempt:
    train = [{"prompt": [{"role": "user", "content": r["prompt"]}], "row_index": i} for i, r in enumerate(rows)]
    stops = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    return MultiAttempt(task, tokenizer, list(rows), prompt_index(train, list(rows)), stops, max_tokens)


def _scripted(tokenizer, texts: list[str], asked: list[int] | None = None):
    """A generator that writes the given attempts in order (each closed by the end of turn)."""
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    queue = list(texts)

    def generate(sequences, max_tokens):
        if asked is not None:
            asked.append(max_tokens)
        out = []
        for _ in sequences:
            ids = tokenizer(queue.pop(0), add_special_tokens=False)["input_ids"][:max_tokens - 1] + [end]
            out.append((ids, None))
        return out

    return generate


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Artifact):
    return load_tokenizer(tiny_model, padding_side="left")


def test_the_mask_is_zero_exactly_on_the_task_tokens(tokenizer) -> None:
    runner = _runner(tokenizer, _task())
    (episode,) = runner.run([runner.start([{"role": "user", "content": ROW["prompt"]}])],
                            _scripted(tokenizer, ["I think <answer>4</answer>", "no answer here",
                                                  "so <answer>5</answer>"]))
    turns = episode.turns
    assert [t["by"] for t in turns] == ["model", "task", "model", "task", "model"]
    assert [t.get("right") for t in turns if t["by"] == "model"] == [False, False, True]
    assert "You have 2 attempts left" in turns[1]["text"] and "You have 1 attempts left" in turns[3]["text"]
    # the stop token closing an attempt is the model's; the feedback does not repeat it
    assert not turns[1]["text"].startswith("<|im_end|>") and turns[1]["text"].rstrip().endswith("assistant")
    # walk the tokens: the mask is 1 on each attempt's tokens and 0 on each feedback turn's, nowhere else
    expected: list[int] = []
    for turn in turns:
        if turn["by"] == "model":
            expected += [1] * turn["tokens"]
        else:
            expected += [0] * len(tokenizer(turn["text"], add_special_tokens=False)["input_ids"])
    assert episode.env_mask == expected and len(episode.completion_ids) == len(expected)
    model_text = tokenizer.decode([t for t, m in zip(episode.completion_ids, episode.env_mask, strict=True) if m])
    assert "<answer>4</answer>" in model_text and "incorrect" not in model_text
    task_text = tokenizer.decode([t for t, m in zip(episode.completion_ids, episode.env_mask, strict=True) if not m])
    assert task_text.count("Your answer is incorrect.") == 2 and "<answer>" not in task_text
    # the prompt tells the model its N, in the system turn
    assert "You have 3 attempts" in tokenizer.decode(episode.prompt_ids)


@pytest.mark.parametrize(("attempts", "allowed", "reward", "first_right"), [
    (["<answer>5</answer>"], 3, 1.0, 1),  # right at once: the episode ends there
    (["<answer>4</answer>", "<answer>5</answer>"], 3, 1.0, 2),  # right at the second attempt
    (["<answer>4</answer>", "<answer>6</answer>", "<answer>7</answer>"], 3, -0.5, None),  # answered, never right
    (["hmm", "still thinking", "no idea"], 3, -1.0, None),  # never an answer the extractor finds
    (["hmm", "<answer>9</answer>"], 2, -0.5, None),  # one answer, wrong, is enough for -0.5
])
def test_every_reward_case_of_an_episode(tokenizer, attempts, allowed, reward, first_right) -> None:
    task = _task(min_attempts=allowed, max_attempts=allowed)
    runner = _runner(tokenizer, task)
    (episode,) = runner.run([runner.start([{"role": "user", "content": ROW["prompt"]}])],
                            _scripted(tokenizer, list(attempts)))
    summary = episode.summary()
    assert summary["attempts"] == len(attempts) and summary["first_right"] == first_right
    assert episode_reward(task, summary) == reward
    custom = _task(min_attempts=allowed, max_attempts=allowed, rewards={"correct": 2, "wrong": 0, "no_answer": -3})
    assert episode_reward(custom, summary) == {1.0: 2, -0.5: 0, -1.0: -3}[reward]


def test_budgets_bound_each_attempt_and_the_episode(tokenizer) -> None:
    asked: list[int] = []
    runner = _runner(tokenizer, _task(max_attempts=5, min_attempts=5, attempt_tokens=12), max_tokens=70)
    (episode,) = runner.run([runner.start([{"role": "user", "content": ROW["prompt"]}])],
                            _scripted(tokenizer, ["a b c d e f g h i j k l m n o p"] * 5, asked))
    assert asked[0] == 12 and all(a <= 12 for a in asked)
    assert len(episode.completion_ids) <= 70
    assert len(episode.attempts) < 5  # the episode's budget ran out before its attempts did
    assert all(t["tokens"] <= 12 for t in episode.attempts)


def test_n_is_drawn_per_prompt_and_batch_so_a_group_shares_it(tokenizer) -> None:
    rows = [{**ROW, "id": f"q{i}", "prompt": f"What is {i} + 3?", "answer": str(i + 3)} for i in range(8)]
    runner = _runner(tokenizer, _task(min_attempts=1, max_attempts=4), rows=rows)
    prompts = [[{"role": "user", "content": r["prompt"]}] for r in rows]
    for batch in range(1, 4):  # the copies of a prompt in one rollout batch (one GRPO group) draw the same N
        assert all(runner.start(p, batch).allowed == runner.start(p, batch).allowed for p in prompts)
    drawn = {runner.start(p, batch).allowed for p in prompts for batch in range(1, 20)}
    assert drawn == {1, 2, 3, 4}  # and N still spans the bounds across prompts and batches


def test_the_feedback_closes_the_turn_unless_the_attempt_s_own_stop_token_did(tokenizer) -> None:
    """An attempt that ends with the template's end of turn is not closed twice; one cut at its budget, or
    ended by another stop token (a base model's end of text), gets the template's end of turn first."""
    end, other = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<pad>")
    runner = _runner(tokenizer, _task())
    runner.stops.add(other)
    closed = tokenizer.decode(runner.feedback_ids(ROW, 2, stop=end))
    assert not closed.startswith("<|im_end|>") and closed.lstrip().startswith("<|im_start|>system")
    for stop in (other, None):
        assert tokenizer.decode(runner.feedback_ids(ROW, 2, stop=stop)).startswith("<|im_end|>")


def test_a_template_that_trims_the_content_still_locates_the_attempt(tokenizer) -> None:
    import copy

    trimming = copy.deepcopy(tokenizer)
    trimming.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] | trim }}"
                              "<|im_end|>\n{% endfor %}"
                              "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    runner = _runner(trimming, _task())
    runner.check_template()
    assert "Your answer is incorrect. You have 1 attempts left." in trimming.decode(runner.feedback_ids(ROW, 1, None))


def test_the_hook_returns_what_trl_needs_one_episode_per_prompt(tokenizer) -> None:
    runner = _runner(tokenizer, _task(min_attempts=2, max_attempts=2))
    hook = rollout_func(runner, lambda trainer: _scripted(tokenizer, ["<answer>1</answer>", "<answer>5</answer>",
                                                                      "<answer>5</answer>"]))
    prompt = [{"role": "user", "content": ROW["prompt"]}]
    out = hook([prompt, prompt], object())
    assert set(out) == {"prompt_ids", "completion_ids", "logprobs", "env_mask", "episode"}
    assert out["logprobs"] is None  # transformers rollouts: TRL computes the old logprobs itself
    assert [len(c) for c in out["completion_ids"]] == [len(m) for m in out["env_mask"]]
    assert [e["right"] for e in out["episode"]] == [True, True] and [e["attempts"] for e in out["episode"]] == [2, 1]


def test_a_prompt_with_two_answers_is_refused() -> None:
    rows = [dict(ROW), {**ROW, "id": "q2", "answer": "6"}]
    train = [{"prompt": [{"role": "user", "content": ROW["prompt"]}], "row_index": i} for i in range(2)]
    with pytest.raises(StageError, match="same prompt and different answers"):
        prompt_index(train, rows)
    assert prompt_index(train[:1], rows) == {prompt_key(train[0]["prompt"]): 0}


@pytest.mark.parametrize(("task", "message"), [
    ({"min_attempts": 3, "max_attempts": 2}, "min_attempts 3 is above max_attempts 2"),
    ({"max_attempts": 0}, "greater than or equal to 1"),
    ({"feedback": "Wrong, try again."}, "no `{k}` slot"),
    ({"attempts_prompt": "You have attempts."}, "no `{n}` slot"),
    ({"attempt_tokens": 600}, "task.attempt_tokens 600 is above max_completion_tokens 512"),
])
def test_bad_tasks_are_refused_with_what_to_change(task, message) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        GrpoStage(id="rl", kind="grpo", model="m", data="d", task={"kind": "multi_attempt", **task})


@pytest.mark.parametrize(("settings", "message"), [
    ({"vllm": {"tensor_parallel": 2}, "resources": {"processes": 2}}, "set tensor_parallel: 1"),
    ({"vllm": {"sleep": True}}, "set vllm.sleep: false"),
    ({"resources": {"strategy": "fsdp"}}, "use ddp or deepspeed-zero2"),
    ({"resources": {"strategy": "deepspeed-zero3"}}, "use ddp or deepspeed-zero2"),
])
def test_engines_that_would_make_attempt_rounds_collective_are_refused(settings, message) -> None:
    """Each process runs as many rounds of attempts as its own episodes need: a generate call that is a
    collective across processes (a tensor-parallel engine, gathered shards, a sleeping engine's reload) would
    hang or reload every round."""
    with pytest.raises(ValidationError, match=message):
        GrpoStage(id="rl", kind="grpo", model="m", data="d", task={"kind": "multi_attempt"}, **settings)
    GrpoStage(id="rl", kind="grpo", model="m", data="d", **settings)  # fine without a task


def test_one_attempt_needs_no_feedback_slot_and_a_task_stays_out_of_old_fingerprints() -> None:
    GrpoStage(id="rl", kind="grpo", model="m", data="d",
              task={"kind": "multi_attempt", "min_attempts": 1, "max_attempts": 1, "feedback": ""})
    assert "task" not in GrpoStage(id="rl", kind="grpo", model="m", data="d").model_dump()


def test_the_gradient_does_not_depend_on_the_task_tokens_logits(tmp_path, tiny_model: Artifact, tokenizer) -> None:
    """TRL's real GRPO loss on episodes from the hook: noise added to the final hidden states that give the
    logits of the task's tokens leaves every gradient as it was; the same noise at the model's tokens
    changes them (so the check can fail). TRL's fused head never materializes the logits, so the noise goes
    in just before it: the final norm's output at one position feeds that position's logits only."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from stages._models import load_model

    rows = (ROW, {**ROW, "id": "q2", "prompt": "What is 1 + 1?", "answer": "2"})
    runner = _runner(tokenizer, _task(min_attempts=2, max_attempts=2), rows=rows)
    texts = ["<answer>3</answer>", "a longer wrong try: <answer>4</answer>", "<answer>2</answer>", "x"] * 3
    hook = rollout_func(runner, lambda trainer: _scripted(tokenizer, list(texts)))
    train = [{"prompt": [{"role": "user", "content": r["prompt"]}], "row_index": i} for i, r in enumerate(rows)]

    def reward(completions, episode, **_):
        return [float(sum(t["tokens"] for t in e["turns"] if t["by"] == "model")) for e in episode]

    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=200, report_to=[], use_cpu=True, beta=0.0, logging_steps=1)
    model = load_model(tiny_model)
    trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=args, train_dataset=Dataset.from_list(train),
                          processing_class=tokenizer, rollout_func=hook)
    model.train()
    trainer.current_gradient_accumulation_steps = 1  # what Trainer.train sets before its first step
    batch = trainer._generate_and_score_completions([dict(train[i]) for i in (0, 0, 1, 1)])  # rows as TRL copies them
    task_mask = batch["completion_mask"] * (1 - batch["tool_mask"])
    assert task_mask.sum() > 0 and batch["advantages"].abs().sum() > 0
    width = batch["prompt_ids"].shape[1]  # TRL trains on prompt (left-padded) + completion
    calls = []

    def gradients(positions: torch.Tensor | None) -> list[torch.Tensor]:
        def perturb(_module, _inputs, hidden):
            calls.append(hidden.shape)
            if positions is None:
                return hidden
            noise = torch.zeros_like(hidden)
            b, t = positions.nonzero(as_tuple=True)  # completion token t is predicted at position width - 1 + t
            noise[b, width - 1 + t] = torch.randn(len(b), hidden.shape[-1], generator=torch.Generator().manual_seed(0))
            return hidden + noise

        model.zero_grad()
        handle = model.model.norm.register_forward_hook(perturb)
        trainer.compute_loss(model, batch).backward()
        handle.remove()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    clean, on_task = gradients(None), gradients(task_mask.bool())
    assert calls and all(shape[1] == width + batch["completion_ids"].shape[1] for shape in calls)
    assert all(torch.allclose(a, b, atol=1e-8, rtol=1e-6) for a, b in zip(clean, on_task, strict=True))
    on_model = gradients((batch["completion_mask"] * batch["tool_mask"]).bool())
    assert any(not torch.allclose(a, b, atol=1e-8, rtol=1e-6) for a, b in zip(clean, on_model, strict=True))


def test_an_evaluation_episode_budget_is_checked_too() -> None:
    from schemas import EvaluateStage

    with pytest.raises(ValidationError, match="task.attempt_tokens 100 is above max_new_tokens 64"):
        EvaluateStage(id="e", kind="evaluate", models=["m"], data="d", max_new_tokens=64,
                      task={"kind": "multi_attempt", "attempt_tokens": 100})


def test_trl_reads_the_attempt_budget_where_the_vllm_backend_sets_it() -> None:
    """The GRPO hook's vLLM attempts set `VLLMGeneration.max_completion_length` for one call: TRL 1.16 reads it
    at each call as the request's max_tokens (a TRL that stops doing so fails here, not on a GPU node)."""
    import inspect

    from trl.generation.vllm_generation import VLLMGeneration

    source = inspect.getsource(VLLMGeneration.generate)
    assert "max_completion_length = self.max_completion_length" in source
    assert '"max_tokens": max_completion_length' in source
