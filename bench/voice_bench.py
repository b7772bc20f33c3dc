"""Voice transcription on this machine: model load, peak memory, batch speed, live latency.

A 30-second Spanish dictation is synthesised with espeak-ng (or pass --audio FILE and
--reference TEXT). In each run:

- batch: the whole recording transcribed after it ends (the default model and beam);
  its time is the delay a user waits after stopping, and time / duration is the
  real-time factor;
- live: the same audio fed in real time (100 ms blocks, as the microphone delivers it)
  to the live transcriber, the recording ended the moment the speech ends; the delay is
  from that moment to the final transcript (target: at most 1/5 of batch);
- silence: 30 s of silence, which must cost well under a second.

Word error rates against the reference text are printed beside the times, so speed is
never bought with accuracy unnoticed. Peak RSS is the process's high-water mark.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/voice_bench.py --runs 3
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from obs_support.audio.buffer import SAMPLE_RATE, AudioBuffer
from obs_support.audio.live import LiveTranscriber
from obs_support.audio.recorder import load
from obs_support.audio.transcriber import Transcriber

DICTATION = (
    "Buenos días. Les escribo porque la montura del telescopio principal no sigue bien las "
    "estrellas desde anoche. Hemos revisado el enfocador y parece que hace ruido al moverse. "
    "También la cúpula se detiene a mitad de recorrido cuando la giramos hacia el oeste. El "
    "espejo primario necesita una limpieza antes de la próxima campaña de observación. La "
    "cámara CCD funciona correctamente pero la temperatura sube demasiado. Por favor, "
    "avísennos cuando puedan venir a revisarlo."
)


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: edit distance over words, divided by the reference's length."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / max(len(ref), 1)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthesise(text: str, folder: Path) -> Path:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed to make the dictation (or pass --audio and --reference)")
    out = folder / "dictation.wav"
    subprocess.run(["espeak-ng", "-v", "es", "-s", "150", "-w", str(out), text], check=True)
    return out


def live_delay(transcriber: Transcriber, samples: np.ndarray) -> tuple[float, str, int]:
    buffer = AudioBuffer()
    live = LiveTranscriber(transcriber, buffer).start()
    block = SAMPLE_RATE // 10
    started = time.monotonic()
    for i, offset in enumerate(range(0, samples.size, block)):
        due = started + i * block / SAMPLE_RATE
        time.sleep(max(0.0, due - time.monotonic()))
        buffer.append(samples[offset : offset + block])
    time.sleep(max(0.0, started + samples.size / SAMPLE_RATE - time.monotonic()))
    speech_ended = time.monotonic()
    buffer.close()
    result = live.result(timeout=120)
    return time.monotonic() - speech_ended, result.text, live.state.passes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default=None, help="model name or directory (default: base)")
    parser.add_argument("--audio", type=Path, help="a recording instead of the synthesised one")
    parser.add_argument("--reference", default=DICTATION, help="what the recording says")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.audio or synthesise(args.reference, Path(tmp))
        samples = load(path)
    duration = samples.size / SAMPLE_RATE
    rss_start = peak_rss_mib()
    transcriber = Transcriber(args.model, language="es")
    t0 = time.monotonic()
    transcriber.model()
    load_s = time.monotonic() - t0
    transcriber.transcribe(samples[: SAMPLE_RATE * 2])  # warm up: first calls allocate

    batch, live, silence = [], [], []
    batch_text = live_text = ""
    passes = 0
    for run in range(args.runs):
        t0 = time.monotonic()
        batch_text = transcriber.transcribe(samples).text
        batch.append(time.monotonic() - t0)
        delay, live_text, passes = live_delay(transcriber, samples)
        live.append(delay)
        t0 = time.monotonic()
        assert transcriber.transcribe(np.zeros(SAMPLE_RATE * 30, dtype=np.float32)).text == ""
        silence.append(time.monotonic() - t0)
        print(
            f"run {run + 1}: batch {batch[-1]:.2f} s, live delay {live[-1]:.2f} s "
            f"({passes} passes), silence {silence[-1]:.3f} s",
            flush=True,
        )

    b, lv = statistics.median(batch), statistics.median(live)
    print()
    print(f"machine: {os.cpu_count()} cores; model: {args.model or 'base (default)'}, int8, CPU")
    print(f"dictation: {duration:.1f} s of Spanish speech; model load {load_s:.2f} s")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB (before loading the model: {rss_start:.0f} MiB)")
    print(
        f"batch after stop:  {b:.2f} s median (real-time factor {b / duration:.3f}), "
        f"WER {wer(args.reference, batch_text):.1%}"
    )
    print(f"live, final delay: {lv:.2f} s median, WER {wer(args.reference, live_text):.1%}")
    ratio = lv / b
    verdict = "ok" if ratio <= 0.2 else "over the 1/5 target"
    print(f"live / batch:      {ratio:.2f}  (target <= 0.20: {verdict})")
    print(f"30 s of silence:   {statistics.median(silence):.3f} s median")
    print(f"batch text: {batch_text}")
    print(f"live text:  {live_text}")


if __name__ == "__main__":
    main()
