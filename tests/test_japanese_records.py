"""A Japanese web shop and a members' club written by hand (fifteenth session's sweep), through a real run: headers
in Japanese, full names family name first (with an ideographic space, or none), full-width digits, `〒` postcodes,
dates written `1985年03月04日`, the country as `日本`; then customer service's lookup as a Tokyo agent types it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from assets import runner
from tests.hostile import balanced, day, project, write

SOURCES = """
defaults:
  country: JP
sources:
  - name: shop
    channel: online
    format: csv
    files: shop/**/*.csv
    record_id: 注文者ID
    date_formats: ["%Y/%m/%d"]
    person:
      full_name: {column: 氏名, order: family_first}
      email: メール
      phone: 電話番号
      postcode: 郵便番号
      city: 市区町村
      street: 住所
      birth_date: 生年月日
  - name: club
    channel: offline
    format: csv
    files: club/**/*.csv
    record_id: 会員番号
    date_formats: ["%Y年%m月%d日", "%Y/%m/%d"]
    person: {last_name: 姓, first_name: 名, email: email, phone: tel, postcode: zip, birth_date: birthday,
             country: country}
"""
SHOP = """注文者ID,氏名,メール,電話番号,郵便番号,市区町村,住所,生年月日
S1,山田 太郎,taro.yamada@example.jp,090-1234-5678,〒100-0001,千代田区,千代田1-1,1985/03/04
S2,佐藤　花子,hanako.sato@example.jp,０８０－１１１１－２２２２,１５０－０００２,渋谷区,渋谷2-21-1,1990/12/01
S3,鈴木一郎,ichiro@example.jp,03-1234-5678,530-0001,大阪市北区,梅田3-1,1978/07/07
"""
CLUB = """会員番号,姓,名,email,tel,zip,birthday,country
M1,山田,太郎,TARO.YAMADA@EXAMPLE.JP,09012345678,1000001,1985年03月04日,日本
M2,佐藤,花子,,080-1111-2222,150-0002,1990年12月01日,Japan
M3,鈴木,一郎,ichiro@example.jp,,,1978/07/07,JP
"""


def test_japanese_records_link_and_customer_service_finds_a_name_typed_without_a_space(tmp_path, cli_env):
    settings = project(tmp_path)
    settings.sources_file.write_text(SOURCES, encoding="utf-8")
    write(settings.raw_dir, "shop", day(-2), "orders.csv", SHOP.encode())
    write(settings.raw_dir, "club", day(-1), "members.csv", CLUB.encode())
    for result in runner.run(settings, console_level="CRITICAL"):
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        issues = con.execute("SELECT source_record_id, field FROM staging.field_issues").fetchall()
        customer = dict(con.execute("SELECT source || ':' || source_record_id, customer_id "
                                    "FROM marts.customer_xref").fetchall())
        golden = dict(con.execute("SELECT customer_id, (last_name, first_name, mobile, postcode, country) "
                                  "FROM marts.customer_360").fetchall())
    assert issues == []  # full-width digits, `〒`, `年月日` dates and `日本` all read
    assert {f"shop:S{i}": customer[f"shop:S{i}"] for i in (1, 2, 3)} == \
        {f"shop:S{i}": customer[f"club:M{i}"] for i in (1, 2, 3)}  # each person once
    assert golden[customer["shop:S1"]] == ("山田", "太郎", "+819012345678", "100-0001", "JP")
    assert golden[customer["shop:S2"]][:3] == ("佐藤", "花子", "+818011112222")

    # A Tokyo agent types the name as it is written, without a space, or the phone in full-width digits.
    for query, record in ((["山田太郎", "--postcode", "〒100-0001"], "shop:S1"), (["佐藤花子", "--postcode", "1500002"],
                          "club:M2"), (["０９０－１２３４－５６７８"], "club:M1"), (["山田", "--postcode", "100-0001"], "shop:S1")):
        card = subprocess.run([str(Path(sys.executable).parent / "customer360"), "lookup", *query, "--restricted",
                               str(settings.restricted)], capture_output=True, text=True, timeout=300)
        assert f"=== customer {customer[record]}" in card.stdout, (query, card.stderr)
