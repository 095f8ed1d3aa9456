using System.Text.Json;
using System.Text.Json.Serialization;
using P2PDist.Rafs;

namespace P2PDist.Peer.Snapshotter;

/// <summary>
/// The snapshotter's metadata, persistent: every change is written to a new file, flushed to disk and renamed
/// over the old one before the call that made it returns, so a crash or restart leaves either the old state or
/// the new, never half of one. Callers serialise access with <see cref="LockAsync"/>.
/// </summary>
public sealed class SnapshotStore
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false, Converters = { new JsonStringEnumConverter() } };

    private readonly string _path;
    private readonly Dictionary<string, SnapshotRecord> _byName = new(StringComparer.Ordinal);
    private long _nextId = 1;

    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Held for every read-modify-write of the store, and across the mounts that depend on it; dispose to release.</summary>
    public async Task<IDisposable> LockAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Releaser(_gate);
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                gate.Release();
        }
    }

    private sealed record State(long NextId, List<SnapshotRecord> Snapshots);

    public SnapshotStore(string path)
    {
        _path = path;
        if (!File.Exists(path))
            return;
        State state;
        try
        {
            state = JsonSerializer.Deserialize<State>(File.ReadAllBytes(path), Json) ?? throw new P2PDistException($"{path}: empty snapshot metadata");
        }
        catch (JsonException e)
        {
            throw new P2PDistException($"{path}: the snapshot metadata is not valid ({e.Message}); move it aside to start with no snapshots");
        }
        _nextId = state.NextId;
        foreach (var snapshot in state.Snapshots)
            _byName[snapshot.Name] = snapshot;
        Recount();
    }

    public IReadOnlyCollection<SnapshotRecord> All => _byName.Values;

    /// <summary>How many snapshots of each kind, as of the last change: readable without the gate (for metrics).</summary>
    public SnapshotCounts Counts { get; private set; } = new(0, 0, 0, 0);

    public sealed record SnapshotCounts(int Remote, int Active, int View, int Committed);

    private void Recount() => Counts = new SnapshotCounts(
        _byName.Values.Count(s => s.Remote is not null),
        _byName.Values.Count(s => s.Kind == SnapshotKind.Active),
        _byName.Values.Count(s => s.Kind == SnapshotKind.View),
        _byName.Values.Count(s => s.Remote is null && s.Kind == SnapshotKind.Committed));

    public SnapshotRecord? Find(string name) => _byName.GetValueOrDefault(name);

    public long NewId() => _nextId++;

    public bool HasChildren(string name) => _byName.Values.Any(s => s.Parent == name);

    public void Put(SnapshotRecord snapshot, string? replacing = null)
    {
        if (replacing is not null)
            _byName.Remove(replacing);
        _byName[snapshot.Name] = snapshot;
        Save();
    }

    public void Delete(string name)
    {
        if (_byName.Remove(name))
            Save();
    }

    /// <summary>The snapshot's ancestors, nearest first (bounded: a cycle in a hand-edited file cannot loop).</summary>
    public List<SnapshotRecord> Ancestors(SnapshotRecord snapshot)
    {
        var chain = new List<SnapshotRecord>();
        for (string parent = snapshot.Parent; parent.Length > 0 && chain.Count <= _byName.Count;)
        {
            var next = Find(parent) ?? throw new P2PDistException($"snapshot {snapshot.Name}: ancestor {parent} is missing from the metadata");
            chain.Add(next);
            parent = next.Parent;
        }
        return chain;
    }

    private void Save()
    {
        string temporary = _path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(file, new State(_nextId, [.. _byName.Values]), Json);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, _path, overwrite: true);
        Recount();
    }
}
