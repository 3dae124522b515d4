"""Text end to end through the public API and the CLI: files in, a trained encoder, scores out,
exact resume, embedding, export."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

import contrastlearn
from contrastlearn.cli import main
from contrastlearn.engine.batches import sample_order
from contrastlearn.modalities.text.tokens import PAD_ID, TokenDataset
from tests.learning import assert_learned, untrained_encoder, untrained_score

TOPICS = {
    "animals": ["the cat sleeps on the warm mat", "a dog barks at the mailman",
                "the horse runs across the field", "birds sing in the old tree",
                "a small mouse hides from the cat", "the cow eats green grass"],
    "money": ["the bank raised interest rates", "stocks fell sharply on monday",
              "the market closed higher today", "investors sold their shares",
              "the company reported a large profit", "bond prices dropped again"],
}


def tiny_scratch(**extra) -> dict:
    """Overrides that train a tiny from-scratch encoder for a few steps."""
    return {"encoder.name": "scratch_text_encoder",
            "encoder.kwargs": {"vocab_size": 200, "dim": 16, "depth": 1, "heads": 2,
                               "max_length": 24, "min_frequency": 1},
            "train.steps": 4, "train.batch_size": 8, "train.lr": 0.001,
            "train.log_every_steps": 1, **extra}


@pytest.fixture
def labelled_csv(tmp_path):
    path = tmp_path / "topics.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for repeat in range(3):
            for label, texts in TOPICS.items():
                writer.writerows([f"{text} {'again ' * repeat}".strip(), label]
                                 for text in texts)
    return path


@pytest.fixture
def sentences_txt(tmp_path):
    path = tmp_path / "sentences.txt"
    lines = [text for texts in TOPICS.values() for text in texts]
    path.write_text("\n".join(lines[:6]) + "\n\n" + "\n".join(lines[6:]) + "\n")
    return path


TOPIC_WORDS = {
    "animals": "cat dog horse bird mouse cow sheep goat duck fox owl frog",
    "money": "bank stock market bond share profit price loan cash fund trade debt",
    "weather": "rain snow wind storm cloud sun fog frost hail thunder heat ice",
}
FILLER_WORDS = ("the a an of on in at to for with from by and or but so very quite just then "
                "now here there this that some many few all each every other same such only "
                "also again still often never always soon later")


@pytest.fixture
def topics_csv(tmp_path):
    """240 labelled rows in 3 topics: 3 words of the row's topic and 3 filler words, shuffled.
    An untrained scratch encoder's kNN scores about 0.55 on them (chance: 0.33); 40 SimCSE
    steps lift that above 0.8."""
    generator = np.random.default_rng(0)
    path = tmp_path / "topics.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for row in range(240):
            topic = list(TOPIC_WORDS)[row % 3]
            words = [*generator.choice(TOPIC_WORDS[topic].split(), 3),
                     *generator.choice(FILLER_WORDS.split(), 3)]
            generator.shuffle(words)
            writer.writerow([" ".join(words), topic])
    return path


def test_simcse_on_a_labelled_csv_learns_evaluates_and_reloads(topics_csv, tmp_path):
    overrides = tiny_scratch(**{"train.steps": 40, "train.batch_size": 16, "train.lr": 0.005})
    result = contrastlearn.pretrain("simcse", dataset=topics_csv, out=tmp_path / "run",
                                    overrides=overrides, progress=False)
    assert result.training.steps == 40
    assert all(record["tokens_per_second"] > 0 for record in result.training.history)
    info = json.loads((tmp_path / "run" / "data.json").read_text())
    knn = result.result("knn")
    assert knn.settings["num_test"] == info["num_test"] == 48
    assert_learned(knn.value, untrained_score("simcse", "knn", topics_csv, overrides))
    config = json.loads((tmp_path / "run" / "encoder" / "config.json").read_text())
    assert config["encoder"] == "text_transformer" and "corpus" not in config["kwargs"]
    assert config["input_shape"] is None
    texts = ["the cat and the dog", "stock prices again"]
    from_run = contrastlearn.embed(tmp_path / "run", texts)
    from_module = contrastlearn.embed(result.encoder, texts)
    assert from_run.shape == (2, 16)
    torch.testing.assert_close(from_run, from_module)


def test_text_resume_is_exact(labelled_csv, tmp_path):
    whole = contrastlearn.pretrain("simcse", dataset=labelled_csv, out=tmp_path / "whole",
                                   overrides=tiny_scratch(), progress=False,
                                   evaluate_after=False)
    contrastlearn.pretrain("simcse", dataset=labelled_csv, out=tmp_path / "parts",
                           overrides=tiny_scratch(**{"train.max_steps": 2}), progress=False,
                           evaluate_after=False)
    recipe = tmp_path / "parts" / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("max_steps: 2", "max_steps: null"))
    resumed = contrastlearn.pretrain(out=tmp_path / "parts", resume=True, progress=False,
                                     evaluate_after=False)
    assert resumed.training.steps == 4
    for key, value in whole.encoder.state_dict().items():
        assert torch.equal(value, resumed.encoder.state_dict()[key]), key


def test_unbucketed_batches_follow_the_plain_epoch_order(labelled_csv, tmp_path, monkeypatch):
    from contrastlearn.engine import trainer as trainer_module

    seen = []
    original = trainer_module.sample_order

    def recording(data, batch_size, seed, epoch, sampler=None):
        seen.append(data.bucket_lengths)
        return original(data, batch_size, seed, epoch, sampler)

    monkeypatch.setattr(trainer_module, "sample_order", recording)
    contrastlearn.pretrain("simcse", dataset=labelled_csv, out=tmp_path / "run",
                           overrides=tiny_scratch(**{"data.options.bucket_by_length": False,
                                                     "train.steps": 1}),
                           progress=False, evaluate_after=False)
    assert seen and all(lengths is None for lengths in seen)


def test_length_buckets_keep_every_row_once_and_cut_padding():
    lengths = torch.tensor([2, 9, 3, 8, 4, 7, 5, 6, 2, 9, 3, 8])
    x = torch.zeros(12, 10, dtype=torch.long)
    for row, length in enumerate(lengths.tolist()):
        x[row, :length] = 7
    data = TokenDataset(x)
    order = sample_order(data, batch_size=2, seed=0, epoch=0)
    assert sorted(order.tolist()) == list(range(12))
    assert torch.equal(order, sample_order(data, batch_size=2, seed=0, epoch=0))
    assert not torch.equal(order, sample_order(data, batch_size=2, seed=0, epoch=1))
    batch = data.batch_x(order[:2])
    assert batch.shape[1] == int(lengths[order[:2]].max())
    assert (batch != PAD_ID).sum(1).tolist() == lengths[order[:2]].tolist()
    unbucketed = TokenDataset(x, bucket_by_length=False)
    assert unbucketed.bucket_lengths is None


def test_pairs_from_a_jsonl_file_and_retrieval_by_cli(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"anchor": text, "positive": text.split()[-1] + " " + " ".join(text.split()[:-1])}
            for texts in TOPICS.values() for text in texts]
    pairs.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    result = contrastlearn.pretrain("pairs", dataset=pairs, out=tmp_path / "run",
                                    overrides=tiny_scratch(), progress=False)
    assert result.training.steps == 4 and result.results == []
    scored = tmp_path / "sts.csv"
    scored.write_text("sentence1,sentence2,score\nthe cat sleeps,a cat is sleeping,4.5\n"
                      "stocks fell,the dog barks,0.5\nthe bank raised rates,rates went up,3.5\n")
    assert main(["evaluate", str(tmp_path / "run"), "--pairs", str(scored)]) == 0
    assert "similarity spearman" in capsys.readouterr().out


def test_cli_pretrain_embed_on_a_txt_file(sentences_txt, tmp_path, capsys):
    run = tmp_path / "run"
    overrides = [f"{key}={json.dumps(value)}" for key, value in tiny_scratch().items()]
    args = ["pretrain", "--recipe", "esimcse", "--dataset", str(sentences_txt), "--out", str(run),
            "--no-progress"]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 0
    output = tmp_path / "emb.npy"
    with pytest.warns(RuntimeWarning, match="skipped 1 blank line"):
        assert main(["embed", str(run), "--input", str(sentences_txt), "--output",
                     str(output)]) == 0
    assert np.load(output).shape == (12, 16)
    assert main(["export", str(run), "--output", str(tmp_path / "st")]) == 2
    assert "only exports Hugging Face encoders" in capsys.readouterr().err


def test_bad_text_input_is_a_clear_error(tmp_path, capsys):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 au lait\nthe cat\n".encode("latin-1"))
    assert main(["pretrain", "--recipe", "simcse", "--dataset", str(latin), "--out",
                 str(tmp_path / "run"), "--set", "train.steps=1"]) == 2
    err = capsys.readouterr().err
    assert "line 1" in err and "latin-1" in err
    assert not (tmp_path / "run").exists()
    missing = tmp_path / "pairs.csv"
    missing.write_text("question,reply\nhow are you,fine thanks\n")
    assert main(["pretrain", "--recipe", "pairs", "--dataset", str(missing), "--out",
                 str(tmp_path / "run2"), "--set", "train.steps=1"]) == 2
    assert "question" in capsys.readouterr().err
    assert main(["pretrain", "--recipe", "simcse", "--dataset", str(latin), "--out",
                 str(tmp_path / "run3"), "--encoding", "latin-1",
                 "--set", "encoder.kwargs.model=/no/such/model"]) == 2
    assert "/no/such/model" in capsys.readouterr().err


def test_encoding_option_reads_a_latin1_file(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 au lait\nthe cat sleeps\nstocks fell\n".encode("latin-1"))
    result = contrastlearn.pretrain("simcse", dataset=latin, out=tmp_path / "run",
                                    overrides=tiny_scratch(**{"data.options.encoding": "latin-1",
                                                              "train.batch_size": 3,
                                                              "train.steps": 1}),
                                    progress=False)
    assert result.training.steps == 1
    assert "cafe" in result.encoder.tokenizer.get_vocab()  # the tokenizer strips accents


def test_minilm_simcse_step_and_sentence_transformers_export(labelled_csv, tmp_path):
    overrides = {"train.steps": 1, "train.batch_size": 4, "eval.protocols": ["knn"]}
    result = contrastlearn.pretrain("simcse", dataset=labelled_csv, out=tmp_path / "run",
                                    progress=False, overrides=overrides)
    # one step moved the pre-trained weights (a kNN score would not tell: MiniLM separates
    # these topics before any step)
    before, _ = untrained_encoder("simcse", labelled_csv, overrides)
    after = result.encoder.state_dict()
    assert any(not torch.allclose(value, after[name], rtol=1e-5, atol=1e-7)
               for name, value in before.state_dict().items())
    assert main(["export", str(tmp_path / "run"), "--output", str(tmp_path / "st")]) == 0
    from sentence_transformers import SentenceTransformer

    texts = ["the cat sleeps on the mat", "bond prices dropped"]
    loaded = SentenceTransformer(str(tmp_path / "st"), device="cpu")
    torch.testing.assert_close(torch.as_tensor(loaded.encode(texts)),
                               contrastlearn.embed(tmp_path / "run", texts), atol=1e-5, rtol=0)


def test_hugging_face_dataset_object_trains(tmp_path):
    datasets = pytest.importorskip("datasets")
    texts = [text for group in TOPICS.values() for text in group]
    labels = [label for label, group in TOPICS.items() for _ in group]
    data = datasets.Dataset.from_dict({"text": texts, "label": labels})
    result = contrastlearn.pretrain("simcse", dataset=data, out=tmp_path / "run",
                                    overrides=tiny_scratch(**{"train.steps": 1}), progress=False)
    assert result.training.steps == 1
    info = json.loads((tmp_path / "run" / "data.json").read_text())
    assert info["num_train"] + info["num_test"] == len(texts) and info["num_classes"] == 2
    assert result.result("knn").settings["num_test"] == info["num_test"]
