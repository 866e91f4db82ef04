@testable import FlowModel
import Testing
import TestSupport

@Suite(.ownThreads)
struct TimestampTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2026-11-01T10:00:04.999812345Z", Int64(1_793_527_204_999_812_345)),
        ("2026-11-01T10:00:00.5Z", Int64(1_793_527_200_500_000_000)),
        ("2026-11-01T12:00:00+02:00", Int64(1_793_527_200_000_000_000)),
        ("2026-11-01t10:00:00z", Int64(1_793_527_200_000_000_000)),
        ("1969-12-31T23:59:59.999999999Z", Int64(-1)),
        ("2024-02-29T00:00:00Z", Int64(1_709_164_800_000_000_000)),
    ])
    func parsesRFC3339(_ text: String, _ ns: Int64) {
        #expect(Timestamp.parseRFC3339(text) == ns)
    }

    @Test(arguments: ["yesterday", "", "2026-11-01", "2026-11-01T10:00:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
                      "2026-11-01T24:00:00Z", "2026-11-01T10:00:00.Z", "2026-11-01T10:00:00.1234567890Z",
                      "2026-11-01T10:00:00Zjunk", "2026-11-01T10:00:00+0200", "9999-12-31T23:59:59Z", "2026-11-01T10:60:00Z"])
    func rejectsWhatIsNotRFC3339(_ text: String) {
        #expect(Timestamp.parseRFC3339(text) == nil)
    }

    /// The years 1678 to 2261, whole: far enough inside Int64's nanoseconds (1677-09-21 to
    /// 2262-04-11) that a time plus the longest rollup bucket is still a time.
    @Test func acceptsTheYears1678To2261() {
        #expect(Timestamp.parseRFC3339("1678-01-01T00:00:00Z") == Timestamp.earliest)
        #expect(Timestamp.parseRFC3339("2261-12-31T23:59:59.999999999Z") == Timestamp.latest)
        #expect(Timestamp.formatRFC3339(Timestamp.earliest) == "1678-01-01T00:00:00Z")
        #expect(Timestamp.formatRFC3339(Timestamp.latest) == "2261-12-31T23:59:59.999999999Z")
        for outside in ["1677-12-31T23:59:59.999999999Z", "2262-01-01T00:00:00Z", "2262-04-11T23:00:00Z",
                        "2261-12-31T23:00:00-01:00", "1678-01-01T00:30:00+01:00"] {
            #expect(Timestamp.parseRFC3339(outside) == nil, "\(outside)")
        }
        // A whole 16-day bucket after the last accepted time is still representable.
        #expect(Timestamp.latest.addingReportingOverflow(16 * 86_400 * Timestamp.nanosPerSecond).overflow == false)
        #expect(Timestamp.earliest.subtractingReportingOverflow(16 * 86_400 * Timestamp.nanosPerSecond).overflow == false)
    }

    @Test func formatsRoundTrip() {
        for ns: Int64 in [0, 1, 999_999_999, 1_793_527_204_999_812_345, -1, 1_793_527_200_000_000_000] {
            #expect(Timestamp.parseRFC3339(Timestamp.formatRFC3339(ns)) == ns)
        }
        #expect(Timestamp.formatRFC3339(1_793_527_200_000_000_000) == "2026-11-01T10:00:00Z")
        #expect(Timestamp.formatRFC3339(1_793_527_204_999_812_000) == "2026-11-01T10:00:04.999812Z")
        #expect(Timestamp.formatRFC3339(-1) == "1969-12-31T23:59:59.999999999Z")
    }

    /// `YYYY-MM-DDTHH:MM:SS.fffffffffZ`, the form of every flow-log time, is read by the positions
    /// of its fields; the same text with a lowercase `t` goes the general way: both read alike,
    /// over the whole accepted range, its edges and just past them, and refuse alike.
    @Test func canonicalFormReadsAsTheGeneralReader() {
        var rng = SplitMix(state: 20)
        var instants: [Int64] = [0, -1, 1, Timestamp.earliest, Timestamp.latest, 1_793_527_204_999_812_345, 1_709_164_800_000_000_000]
        for _ in 0..<2000 { instants.append(Int64.random(in: Timestamp.earliest...Timestamp.latest, using: &rng)) }
        for ns in instants {
            let text = Timestamp.formatRFC3339(ns, fullFraction: true)
            #expect(text.utf8.count == 30, "\(text)")
            #expect(Timestamp.parseRFC3339(text) == ns, "\(text)")
            #expect(Timestamp.parseRFC3339(String(text.map { $0 == "T" ? "t" : $0 })) == ns, "\(text)")
        }
        let refused = ["2026-13-01T00:00:00.000000000Z", "2026-00-01T00:00:00.000000000Z", "2026-02-29T00:00:00.000000000Z",
                       "2026-11-31T00:00:00.000000000Z", "2026-11-00T00:00:00.000000000Z", "2026-11-01T24:00:00.000000000Z",
                       "2026-11-01T10:60:00.000000000Z", "2026-11-01T10:00:61.000000000Z", "1677-12-31T23:59:59.999999999Z",
                       "2262-01-01T00:00:00.000000000Z", "2026-11-01T10:00:00.00000000xZ", "2026-11-01T10:00:0x.000000000Z",
                       "2026-1x-01T10:00:00.000000000Z", "x026-11-01T10:00:00.000000000Z", "2026-11-01T10:00:00.0000000000",
                       "2026-11-01T10:00:00,000000000Z", "2026-11-01 10:00:00.000000000Q", "2026-11-01T10:00:00.00000000-Z"]
        for text in refused {
            #expect(text.utf8.count == 30 && Timestamp.parseRFC3339(text) == nil, "\(text)")
            #expect(Timestamp.parseRFC3339(String(text.map { $0 == "T" ? "t" : $0 })) == nil, "\(text)")
        }
        // The usual form is read by position (and only it): the shortcut is taken, not just agreed with.
        func canonical(_ text: String) -> Bool {
            Array(text.utf8).withUnsafeBufferPointer { Timestamp.canonicalFields($0) != nil }
        }
        #expect(canonical("2026-11-01T10:00:04.999812345Z") && canonical("2026-13-01T00:00:00.000000000Z"))
        #expect(!canonical("2026-11-01t10:00:04.999812345Z") && !canonical("2026-11-01T10:00:04.999812345z")
                && !canonical("2026-11-01T10:00:00.0000000000") && !canonical("2026-11-01T10:00:00.00000000xZ"))
        // Texts of the same length that are not the form go the general way, and are read as it reads them.
        #expect(Timestamp.parseRFC3339("2026-11-01T10:00:00.000000000z") == 1_793_527_200_000_000_000)
        #expect(Timestamp.parseRFC3339("2026-11-01 10:00:00.000000000Z") == 1_793_527_200_000_000_000)
        #expect(Timestamp.parseRFC3339("2028-02-29T23:59:60.123456789Z") == Timestamp.parseRFC3339("2028-02-29t23:59:59.123456789Z"))
        #expect(Timestamp.parseRFC3339("2026-11-01T12:00:00.000+02:00") == 1_793_527_200_000_000_000)
    }

    @Test func bucketsAlignToTheEpoch() {
        let minute: Int64 = 60_000_000_000
        #expect(Timestamp.bucketStart(1_793_527_204_999_812_345, step: minute) == 1_793_527_200_000_000_000)
        #expect(Timestamp.bucketStart(-1, step: minute) == -minute)
    }
}
