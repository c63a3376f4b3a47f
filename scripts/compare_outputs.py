"""Compares the outputs of the Python reference run and the Rust main job record by record.

Usage: python compare_outputs.py INPUT.jsonl PYTHON.jsonl RUST_OUTPUT.jsonl RUST_ERRORS.jsonl

The Python framework writes one record per decodable input line, in input order, whatever its
end state, and leaves undecodable lines out; the Rust main job writes records that end in
`output` to its output file and the others to its dead letters (with the record and its input
line), undecodable lines as `malformed` dead letters. Each decodable input line must be, on both
sides, the same end (processed or not) and the same record (numbers compared as numbers:
100 == 100.0); each undecodable line a `malformed` dead letter on the Rust side.
Prints a summary and the first differences; exits 1 when any record differs.
"""

import json
import sys


def lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    source, python_path, rust_out_path, rust_err_path = sys.argv[1:5]
    decodable = []
    undecodable = []
    with open(source) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                json.loads(line)
                decodable.append(number)
            except ValueError:
                undecodable.append(number)
    python = lines(python_path)
    rust_out = lines(rust_out_path)
    letters = {letter["line"]: letter for letter in lines(rust_err_path)}
    differences = []
    if len(python) != len(decodable):
        differences.append(f"python wrote {len(python)} records for {len(decodable)} decodable lines")
    for line in undecodable:
        if letters.get(line, {}).get("reason") != "malformed":
            differences.append(f"line {line}: undecodable, but rust has no `malformed` dead letter for it")
    out = iter(rust_out)
    processed = 0
    for line, expected in zip(decodable, python):
        if expected.get("status") == "processed":
            processed += 1
            if line in letters:
                differences.append(f"line {line}: python processed it, rust dead-lettered it: {letters[line]}")
                continue
            got = next(out, None)
            if got != expected:
                differences.append(f"line {line}: python {expected} != rust {got}")
        else:
            letter = letters.get(line)
            if letter is None:
                differences.append(f"line {line}: python ended it unprocessed ({expected}), rust has no dead letter")
            elif letter.get("record") != expected:
                differences.append(f"line {line}: python {expected} != rust dead letter {letter}")
    extra = sum(1 for _ in out)
    if extra:
        differences.append(f"rust wrote {extra} more output records than python processed")
    unprocessed = len(python) - processed
    if len(letters) != unprocessed + len(undecodable):
        differences.append(
            f"rust has {len(letters)} dead letters for {unprocessed} unprocessed records "
            f"and {len(undecodable)} undecodable lines"
        )
    print(
        f"outputs compared record by record: {len(python)} records ({processed} processed, "
        f"{unprocessed} not), {len(undecodable)} undecodable lines (python leaves them out, rust "
        f"dead-letters them); {len(differences)} differences"
    )
    for d in differences[:10]:
        print("  " + d)
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
