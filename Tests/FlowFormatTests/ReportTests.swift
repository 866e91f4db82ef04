import Foundation
import FlowFormat
import Testing

struct ReportTests {
    let report = Report(
        columns: [Column("endpoint", "ENDPOINT"), Column("name", "NAME"), Column("bytes", "BYTES"), Column("packets", "PACKETS"),
                  Column("tags", "TAGS"), Column("secret", "SECRET", table: false)],
        rows: [
            [.string("nKq3vX1CNTRL"), .string("alice, \"the\" laptop\nline2"), .bytes(1_333_000), .count(1_234_567), .strings(["tag:a", "tag:b"]), .int(1)],
            [.string("*"), .string(nil), .bytes(53), .count(7), .strings([]), .int(2)],
        ])

    @Test func jsonIsAnArrayOfObjectsWithExactIntegers() throws {
        let text = report.render(.json)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        #expect(parsed.count == 2)
        #expect(parsed[0]["bytes"] as? Int == 1_333_000)
        #expect(parsed[0]["name"] as? String == "alice, \"the\" laptop\nline2")
        #expect(parsed[1]["name"] is NSNull)
        #expect(parsed[0]["tags"] as? [String] == ["tag:a", "tag:b"])
        #expect(parsed[1]["secret"] as? Int == 2)
        // Field order follows the columns.
        #expect(text.range(of: "\"endpoint\"")!.lowerBound < text.range(of: "\"packets\"")!.lowerBound)
        #expect(Report(columns: [Column("a")]).render(.json) == "[]\n")
        // Integers beyond 2^53 stay exact.
        #expect(Report(columns: [Column("n")], rows: [[.bytes(Int64.max)]]).render(.json).contains("9223372036854775807"))
    }

    @Test func ndjsonIsOneCompactObjectPerLine() throws {
        let lines = report.render(.ndjson).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty)
        for line in lines.dropLast() {
            #expect(try JSONSerialization.jsonObject(with: Data(line.utf8)) is [String: Any])
            #expect(!line.contains(": "))
        }
        #expect(Report(columns: [Column("a")]).render(.ndjson) == "")
    }

    @Test func csvQuotesWhatNeedsQuoting() {
        let csv = report.render(.csv)
        #expect(csv.hasPrefix("endpoint,name,bytes,packets,tags,secret\r\n"))
        #expect(csv.contains("nKq3vX1CNTRL,\"alice, \"\"the\"\" laptop\nline2\",1333000,1234567,tag:a tag:b,1\r\n"))
        #expect(csv.contains("*,,53,7,,2\r\n"))
    }

    @Test func tablesAlignAndUseHumanUnits() {
        let lines = report.render(.table).split(separator: "\n").map(String.init)
        #expect(lines.count == 3)  // the embedded line break is shown escaped, on the row's line
        #expect(lines[0].hasPrefix("ENDPOINT      NAME"))
        #expect(!lines[0].contains("SECRET"))
        #expect(lines[1].contains("1.3 MiB") && lines[1].contains("1,234,567"))
        let t = Report(columns: [Column("k", "KEY"), Column("bytes", "BYTES")],
                       rows: [[.string("a"), .bytes(1)], [.string("longer"), .bytes(1_073_741_824)]]).render(.table)
        // One unit per column, the largest value's, so the numbers line up.
        #expect(t == "KEY       BYTES\na       0.0 GiB\nlonger  1.0 GiB\n")
        let small = Report(columns: [Column("bytes", "BYTES")], rows: [[.bytes(1)], [.bytes(1023)]]).render(.table)
        #expect(small == "  BYTES\n    1 B\n1,023 B\n")
    }

    /// Names first and IDs only when wide; protocol numbers by name; cut cells; times to the second.
    @Test func tablesShowNamesAndHideIDsUnlessWide() throws {
        var r = Report(columns: [Column("id", "ID", wide: true), Column("proto", "PROTO"),
                                 Column("name", "NAME", fallback: "id", maxWidth: 8), Column("time", "TIME")],
                       rows: [[.string("nKq3vX1CNTRL"), .named(6, "tcp"), .string("alice-laptop.tail7f3e.ts.net"), .time(1_793_527_201_200_000_000)],
                              [.string("100.64.0.1"), .named(58, "icmpv6"), .string(nil), .time(1_793_527_200_000_000_000)]])
        r.tableOrder = ["name"]
        #expect(r.render(.table) == "NAME      PROTO   TIME\nalice-l…  tcp     2026-11-01T10:00:01Z\n100.64.…  icmpv6  2026-11-01T10:00:00Z\n")
        let wide = r.render(.table, wide: true).split(separator: "\n").map(String.init)
        #expect(wide[0].hasPrefix("NAME") && wide[0].contains("ID") && wide[1].contains("alice-laptop.tail7f3e.ts.net") && wide[1].contains("nKq3vX1CNTRL"))
        #expect(wide[2].hasPrefix("-"), "wide shows the name column as it is: \(wide[2])")
        // Machine forms keep every column, in their own order, exact.
        #expect(r.render(.csv) == "id,proto,name,time\r\nnKq3vX1CNTRL,6,alice-laptop.tail7f3e.ts.net,2026-11-01T10:00:01.2Z\r\n100.64.0.1,58,,2026-11-01T10:00:00Z\r\n")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.render(.json).utf8)) as? [[String: Any]])
        #expect(json[1]["proto"] as? Int == 58 && json[1]["name"] is NSNull)
        let list = Report(columns: [Column("p")], rows: [[.namedList([6, 17], ["tcp", "udp"])]])
        #expect(list.render(.table) == "p\ntcp,udp\n" && list.render(.ndjson) == "{\"p\":[6,17]}\n")
    }

    /// A line break, tab or other control character in a name or a tag must not break the
    /// table's rows: tables show it escaped (`\n`, `\t`, `\x1b`, `\u{2028}`); JSON and CSV keep the exact value.
    @Test func controlCharactersAreEscapedInTablesAndExactElsewhere() throws {
        let name = "db-1\nFAKE ROW  9.9 GiB\r\t\u{1B}[31m\u{0}\u{7F}\u{85}\u{2028}\u{202E}x"
        let r = Report(columns: [Column("name", "NAME"), Column("tags", "TAGS"), Column("bytes", "BYTES")],
                       rows: [[.string(name), .strings(["tag:a\nb", "tag:c"]), .bytes(1)], [.string("ok"), .strings([]), .bytes(2)]])
        let table = r.render(.table)
        let lines = table.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines[3].isEmpty, "\(table)")
        #expect(lines[1].hasPrefix(#"db-1\nFAKE ROW  9.9 GiB\r\t\x1b[31m\x00\x7f\u{85}\u{2028}\u{202e}x  tag:a\nb,tag:c"#), "\(lines[1])")
        #expect(!table.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        // Columns still line up: the escaped text is what is measured.
        #expect(lines[0].firstRange(of: "BYTES")!.upperBound.utf16Offset(in: lines[0]) == lines[1].count)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.render(.json).utf8)) as? [[String: Any]])
        #expect(json[0]["name"] as? String == name)
        #expect(json[0]["tags"] as? [String] == ["tag:a\nb", "tag:c"])
        #expect(r.render(.csv).contains("\"" + name + "\""))
    }

    @Test func units() {
        #expect(Units.iec(0) == "0 B")
        #expect(Units.iec(1023) == "1023 B")
        #expect(Units.iec(1024) == "1.0 KiB")
        #expect(Units.iec(1_258_291) == "1.2 MiB")
        #expect(Units.iec(53 * 1024 * 1024) == "53 MiB")
        #expect(Units.grouped(0) == "0")
        #expect(Units.grouped(1234) == "1,234")
        #expect(Units.grouped(-1_234_567) == "-1,234,567")
    }
}
