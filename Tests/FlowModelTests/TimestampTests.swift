import FlowModel
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

    @Test func bucketsAlignToTheEpoch() {
        let minute: Int64 = 60_000_000_000
        #expect(Timestamp.bucketStart(1_793_527_204_999_812_345, step: minute) == 1_793_527_200_000_000_000)
        #expect(Timestamp.bucketStart(-1, step: minute) == -minute)
    }
}
