#!/bin/bash
# Issue 20's table (decode per token, prefill, aot-inductor on bert-tiny) on a CPU: quick rule, 3 rounds, into
# results/decode-table/ (not a book study: no page reads this folder; page 09 reads the book's own decode
# records). Run on an idle machine; ~20 min on 2 cores.
cd "$(dirname "$0")/.."
OUT=${OUT:-results/decode-table}
F=".venv/bin/ftax sweep --device cpu --profile quick --rounds 3 --quiet --out $OUT"
date; uptime
$F --models bert-tiny --backends eager,torchscript,onnxruntime,aot-inductor --batch-sizes 1 --seq-lens 16; date
$F --models llama-small --backends eager,compile,aot-inductor --batch-sizes 1,4,16 --seq-lens 128 --phases decode; date
$F --models gpt2 --backends eager,compile${GPT2_AOT:+,aot-inductor} --batch-sizes 1,4,16 --seq-lens 128 --phases decode; date
$F --models llama-small --backends eager,compile --batch-sizes 1,4,16 --seq-lens 128 --phases prefill; date
$F --models gpt2 --backends eager --batch-sizes 1,4,16 --seq-lens 128 --phases prefill; date
uptime
