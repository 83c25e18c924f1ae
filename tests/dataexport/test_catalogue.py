"""No table is silently forgotten: each one is exported or listed as not exported, with a reason."""

from __future__ import annotations

from leitstand.dataexport import manifest as fmt
from leitstand.db.models import Base


def test_every_table_is_exported_or_deliberately_left_out() -> None:
    exported = {spec.name for spec in fmt.EXPORTED}
    left_out = set(fmt.NOT_EXPORTED)
    tables = set(Base.metadata.tables)
    assert not exported & left_out, "a table cannot be both"
    forgotten = sorted(tables - exported - left_out)
    assert not forgotten, f"decide for each: export it (manifest.EXPORTED) or say why not (NOT_EXPORTED): {forgotten}"
    assert not (exported | left_out) - tables, "the catalogue names tables that do not exist"
    assert all(reason.strip() for reason in fmt.NOT_EXPORTED.values())


def test_tables_come_after_what_they_reference() -> None:
    position = {spec.name: index for index, spec in enumerate(fmt.EXPORTED)}
    for spec in fmt.EXPORTED:
        for column in Base.metadata.tables[spec.name].c:
            target = fmt.reference_target(spec.name, column.name)
            if target in position and target != spec.name:
                assert position[target] < position[spec.name], f"{spec.name}.{column.name} → {target}"


def test_secret_columns_are_omitted() -> None:
    """Every column an audited model declares secret is left out of the export."""
    classes = fmt.model_classes()
    for spec in fmt.EXPORTED:
        secret = getattr(classes[spec.name], "__audit_secret__", frozenset())
        assert secret <= spec.omit, f"{spec.name}: {sorted(secret - spec.omit)} must not be exported"


def test_numbers_are_written_as_postgresql_writes_them() -> None:
    cases = {100.0: "100", 1e15: "1e+15", 1.5e-05: "1.5e-05", 0.1: "0.1", 123456789012345.6: "123456789012345.6",
             -0.0: "-0", 1e16: "1e+16", 21.35: "21.35", -3.0: "-3", 1234567890123456.0: "1.234567890123456e+15"}
    assert {value: fmt.format_number(value) for value in cases} == cases
