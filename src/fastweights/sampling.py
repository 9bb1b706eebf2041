"""Sampling from a trained token model, and the ``generate`` and ``export`` commands.

``sample`` is the plain autoregressive loop over ``model.step``: feed the prompt one token
at a time, then repeatedly draw the next token from softmax(logits / T) (the argmax when
T = 0) and feed it back. It is the reference that ``FastWeightsForCausalLM.generate`` is
tested against, token for token.

    fastweights generate RUN --prompt "ROMEO:" [--tokens N] [--temperature T] [--seed S]
    fastweights export RUN OUT_DIR          (needs the extra fastweights[hf])
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

import torch
from torch import Tensor

from fastweights import models


@torch.no_grad()
def sample(model: models.SequenceModel, prompt: Tensor, n_tokens: int,
           temperature: float = 1.0, generator: torch.Generator | None = None) -> Iterator[Tensor]:
    """Yield ``n_tokens`` next tokens ``[B]`` continuing ``prompt`` ``[B, T]`` (T >= 1).

    Each draw is ``torch.multinomial(softmax(logits.float() / temperature), 1)`` with
    ``generator``; ``temperature = 0`` takes the argmax.
    """
    if prompt.dim() != 2 or prompt.shape[1] < 1:
        raise ValueError(f"prompt must be [B, T] token ids with T >= 1, "
                         f"got {tuple(prompt.shape)}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    state = None
    for t in range(prompt.shape[1]):
        y, state = model.step(prompt[:, t], state)
    for _ in range(n_tokens):
        logits = y.float()
        if temperature == 0:
            token = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        yield token
        y, state = model.step(token, state)


def _generate(args: argparse.Namespace) -> int:
    from fastweights import load_run

    run = load_run(args.run, args.checkpoint)
    model, task = run.model, run.task
    if not model.config.tokens:
        raise ValueError(f"{args.run}: the model reads features, not tokens; generate needs "
                         f"a run on a token task")
    text = hasattr(task, "encode")
    if text:
        prompt = task.encode(args.prompt)
    else:
        try:
            prompt = torch.tensor([int(w) for w in args.prompt.split()], dtype=torch.long)
        except ValueError:
            raise ValueError(f"task {task.name} has no tokenizer: --prompt must be "
                             f"space-separated token ids") from None
    if len(prompt) == 0:
        raise ValueError("--prompt is empty")
    generator = torch.Generator().manual_seed(args.seed)
    print(args.prompt, end="", flush=True)
    for token in sample(model, prompt[None], args.tokens, args.temperature, generator):
        piece = task.decode(token) if text else f" {int(token)}"
        print(piece, end="", flush=True)
    print()
    return 0


def _export(args: argparse.Namespace) -> int:
    from fastweights.hf import export_run

    out = export_run(args.run, args.out_dir, args.checkpoint)
    print(f"wrote {out} (load with transformers: import fastweights.hf; "
          f"AutoModelForCausalLM.from_pretrained({str(out)!r}))")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``generate`` and ``export`` subcommands; each sets ``args.run_command``."""
    p = sub.add_parser("generate", help="sample text from a trained run on a token task",
                       description="Continue a prompt with a trained model, printing each "
                       "token as it is drawn. On char-lm the prompt is text; on other token "
                       "tasks, space-separated token ids.")
    p.add_argument("run", help="a run folder written by `fastweights train`")
    p.add_argument("--prompt", required=True, help="the text to continue")
    p.add_argument("--tokens", type=int, default=200, help="tokens to generate "
                   "(default %(default)s)")
    p.add_argument("--temperature", type=float, default=0.8, help="softmax temperature; "
                   "0 = greedy (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default %(default)s)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="which weights to load (default %(default)s)")
    p.set_defaults(run_command=_generate)

    p = sub.add_parser("export", help="convert a trained run into a Hugging Face folder",
                       description="Write a trained run's model as a transformers folder "
                       "(model.safetensors + config.json) that AutoModelForCausalLM loads "
                       "after `import fastweights.hf`. Needs the extra fastweights[hf].")
    p.add_argument("run", help="a run folder written by `fastweights train`")
    p.add_argument("out_dir", help="output folder")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="which weights to export (default %(default)s)")
    p.set_defaults(run_command=_export)


def run_command(args: argparse.Namespace, rest: list[str],
                parser: argparse.ArgumentParser) -> int:
    """Run the subcommand ``add_parsers`` registered; bad input and a missing extra are
    clean errors."""
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    try:
        return args.run_command(args)
    except ValueError as e:
        parser.error(str(e))
    except ImportError as e:
        print(f"fastweights: error: {e}", file=sys.stderr)
        return 1
