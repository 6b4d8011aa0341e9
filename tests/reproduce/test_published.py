"""published.csv: well-formed, complete for MACRec Table 2, and equal to the paper text."""

import collections
import os
import re

import pytest

from gr_jax.reproduce import published

PAPERS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "shared", "papers")


def test_table2_is_complete():
  rows = [r for r in published.read() if r.table == "Table 2"]
  assert len(rows) == 3 * 5 * 10  # datasets x metrics x methods.
  per = collections.Counter((r.dataset, r.method) for r in rows)
  assert set(per.values()) == {5}
  assert {d for d, _ in per} == {"Instruments", "Arts", "Games"}
  assert {m for _, m in per} >= {"sasrec", "tiger", "mql4grec", "macrec"}
  assert all(0 < r.value < 1 for r in rows)


def test_lookup_and_table1_counts():
  tiger = published.lookup("macrec", "Instruments", "tiger")
  assert tiger["HR@10"].value == pytest.approx(0.1221)
  assert tiger["NDCG@10"].value == pytest.approx(0.0950)
  assert published.lookup("macrec", "Instruments", "sasrec")["NDCG@10"].value == pytest.approx(0.0746)
  assert published.lookup("macrec", "Games", "macrec")["HR@10"].value == pytest.approx(0.1078)
  assert published.lookup("macrec", "Arts", "mql4grec")["HR@1"].value == pytest.approx(0.0626)
  assert published.dataset_stats("macrec", "Instruments") == {
      "users": 17112, "items": 6250, "interactions": 136226}
  assert published.lookup("trialign", "Scientific", "tiger") == {}


def test_every_value_is_on_its_cited_line_of_the_paper():
  path = os.path.join(PAPERS, "001_ffa1c53bdb48cbc2.txt")
  if not os.path.exists(path):
    pytest.skip("../shared/papers not present")
  with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  methods = ["bert4rec", "sasrec", "fdsa", "s3rec", "missrec", "p5cid", "vip5", "tiger",
             "mql4grec", "macrec"]
  for r in published.read():
    line = int(re.search(r"line (\d+)$", r.source).group(1))
    text = lines[line - 1]
    if r.table == "Table 2":
      assert r.metric in text.split()[:2], (r, text)  # "[Dataset] HR@10 0.1081 ..."
      numbers = [float(x.rstrip("*")) for x in re.findall(r"0\.\d{4}\*?", text)]
      assert numbers[methods.index(r.method)] == pytest.approx(r.value), (r, text)
    else:  # Table 1: "Instruments 17112 6250 136226 ..."
      assert text.split()[0] == r.dataset, (r, text)
      assert str(int(r.value)) in text.split(), (r, text)


def test_bad_csv_names_the_line(tmp_path):
  bad = tmp_path / "p.csv"
  bad.write_text(",".join(published.FIELDS) + "\nmacrec,Table 2,Arts,tiger,HR@1,x,src\n")
  with pytest.raises(ValueError, match=r"p.csv:2: field 'value'"):
    published.read(str(bad))
