

@pytest.mark.parametrize("variant", ["tab", "semicolon-decimal-comma"])
def test_phyphox_separator_variants(tmp_path, walk, variant):
    t, a = walk
    src = rf.phyphox(t[:500], a[:500], tmp_path / "comma.csv")
    text = src.read_text()
    if variant == "tab":
        text = text.replace(",", "\t")
    else:
        text = text.replace(",", ";").replace(".", ",")
    p = tmp_path / f"{variant}.csv"
    p.write_text(text)
    a_ref, b = read_csv(src), read_csv(p)
    assert np.allclose(a_ref.t, b.t) and np.allclose(a_ref.acc, b.acc)
