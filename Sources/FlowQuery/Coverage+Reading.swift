import Dispatch
import FlowModel
import FlowStore

extension Coverage {
    /// Reads the window's messages once for the peers' skew: this thread (the store's) steps
    /// through them and hands them on, packed, in batches; a second thread decodes the rows'
    /// ends, keeps the ``Sightings`` and, when `windows`, the messages' windows. Reading SQLite
    /// and the rest take about as long each, so on two cores the pass takes about half as long;
    /// the answer is the one a single thread gives (the second thread reads the messages in
    /// the same order).
    ///
    /// - throws: What the store throws, or ``StoreError`` for a malformed row blob.
    static func readPeers(_ snapshot: any StoreSnapshot, _ window: TimeWindow, width: Int,
                          windows: Bool) throws -> (OwnMessages?, Sightings) {
        let handoff = Handoff(width: width, windowEnd: windows ? window.to : nil)
        DispatchQueue.global(qos: .userInitiated).async { handoff.keepSightings() }
        var batch = Handoff.Batch()
        var failure: (any Error)? = nil
        do {
            try snapshot.messageWindowsAndPackedRows(from: window.from, to: window.to, { batch.window($0) }) { h, rows in
                batch.rows(h, rows)
                if batch.isFull { handoff.send(&batch) }
            }
        } catch {
            failure = error
        }
        batch.last = true
        handoff.send(&batch)
        handoff.finished.wait()
        if let failure { throw failure }
        if let failure = handoff.failure { throw failure }
        return (handoff.messages, handoff.sightings!)
    }

    /// Packed messages handed from the reading thread to the sightings' thread: a few batches go
    /// round, each filled by the reader and taken by the other thread in turn (swapped in and
    /// out of a slot, so neither copies). The semaphores order every access to a slot, and to
    /// the results.
    final class Handoff: @unchecked Sendable {
        struct Batch {
            static let capacity = 1024
            /// Every message's header, in the order the store gave them.
            var windows: [MessageHeader] = []
            /// The messages with rows, in key order, and where each one's packed rows end in `bytes`.
            var messages: [MessageHeader] = []
            var ends: [Int] = []
            var bytes: [UInt8] = []
            /// The reader's last batch (it may hold messages too).
            var last = false

            var isFull: Bool { messages.count >= Self.capacity || windows.count >= Self.capacity }

            mutating func window(_ h: MessageHeader) {
                windows.append(h)
            }

            mutating func rows(_ h: MessageHeader, _ rows: UnsafeRawBufferPointer) {
                messages.append(h)
                bytes.append(contentsOf: rows)
                ends.append(bytes.count)
            }

            mutating func clear() {
                windows.removeAll(keepingCapacity: true)
                messages.removeAll(keepingCapacity: true)
                ends.removeAll(keepingCapacity: true)
                bytes.removeAll(keepingCapacity: true)
                last = false
            }
        }

        private static let slotCount = 4
        private let slots: UnsafeMutablePointer<Batch>
        private let free = DispatchSemaphore(value: slotCount)
        private let full = DispatchSemaphore(value: 0)
        /// Batches sent (the reader's) and taken (the other thread's).
        private var sent = 0
        private var taken = 0
        let finished = DispatchSemaphore(value: 0)
        private let width: Int
        private let windowEnd: Nanoseconds?
        /// Set by the sightings' thread before it signals `finished`.
        private(set) var sightings: Sightings? = nil
        private(set) var messages: OwnMessages? = nil
        private(set) var failure: (any Error)? = nil

        init(width: Int, windowEnd: Nanoseconds?) {
            self.width = width
            self.windowEnd = windowEnd
            slots = .allocate(capacity: Self.slotCount)
            slots.initialize(repeating: Batch(), count: Self.slotCount)
        }

        deinit {
            slots.deinitialize(count: Self.slotCount)
            slots.deallocate()
        }

        /// The reader's: puts `batch` in the next slot once the other thread has taken what was
        /// there, and leaves `batch` an empty one to fill.
        func send(_ batch: inout Batch) {
            free.wait()
            swap(&slots[sent % Self.slotCount], &batch)
            sent += 1
            full.signal()
            batch.clear()
        }

        /// The sightings' thread: every batch in turn, until the last. After a malformed blob
        /// it keeps taking batches (so the reader never waits for ever) without reading them.
        func keepSightings() {
            var s = Sightings(width: width)
            var own = windowEnd.map { OwnMessages(to: $0) }
            var batch = Batch()
            var ends: [RowEnds] = []
            ends.reserveCapacity(64)
            var failed: (any Error)? = nil
            while true {
                full.wait()
                swap(&slots[taken % Self.slotCount], &batch)
                taken += 1
                free.signal()
                if failed == nil {
                    do {
                        if own != nil {
                            for h in batch.windows { own!.add(h) }
                        }
                        try batch.bytes.withUnsafeBytes { bytes in
                            var from = 0
                            for (h, end) in zip(batch.messages, batch.ends) {
                                try RowCodec.decodeEnds(UnsafeRawBufferPointer(rebasing: bytes[from..<end]), into: &ends)
                                from = end
                                ends.withUnsafeBufferPointer { s.see(reporter: h.reporter, start: h.start, $0) }
                            }
                        }
                    } catch {
                        failed = error
                    }
                }
                if batch.last { break }
            }
            (sightings, messages, failure) = (s, own, failed)
            finished.signal()
        }
    }
}
