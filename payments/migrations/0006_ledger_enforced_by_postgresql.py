"""PostgreSQL itself enforces the ledger (SQLite keeps the check in payments/ledger.py).

- A deferred constraint trigger on payments_ledgerentry: at commit, every ledger
  transaction that got entries in this database transaction must sum to zero.
- Row triggers refuse UPDATE and DELETE of entries and of transactions: the ledger
  is append-only; a mistake is corrected by a reversing transaction.

TRUNCATE is not refused (row triggers do not fire on it): test databases are flushed
with it, and only the table owner may run it. `payments.ledger_guards.lifted()` is the
one maintenance door (bulk loads, backdated demo data).
"""

from django.db import migrations

BALANCED = """
CREATE FUNCTION payments_ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
BEGIN
    SELECT COALESCE(SUM(amount_cents), 0) INTO total
    FROM payments_ledgerentry WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: its entries sum to % cents, not 0',
            NEW.transaction_id, total
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'payments_ledger_balanced';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER payments_ledger_balanced
    AFTER INSERT ON payments_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_check_balanced();
"""

APPEND_ONLY = """
CREATE FUNCTION payments_ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% of % row % refused: the ledger is append-only (book a reversal instead)',
        TG_OP, TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER payments_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON payments_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_refuse_change();

CREATE TRIGGER payments_ledgertransaction_append_only
    BEFORE UPDATE OR DELETE ON payments_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_refuse_change();
"""

REMOVE = """
DROP TRIGGER IF EXISTS payments_ledgertransaction_append_only ON payments_ledgertransaction;
DROP TRIGGER IF EXISTS payments_ledgerentry_append_only ON payments_ledgerentry;
DROP TRIGGER IF EXISTS payments_ledger_balanced ON payments_ledgerentry;
DROP FUNCTION IF EXISTS payments_ledger_refuse_change();
DROP FUNCTION IF EXISTS payments_ledger_check_balanced();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BALANCED, params=None)
        schema_editor.execute(APPEND_ONLY, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REMOVE, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0005_ledgerdaily_credit_sales"),
    ]

    operations = [migrations.RunPython(install, remove)]
