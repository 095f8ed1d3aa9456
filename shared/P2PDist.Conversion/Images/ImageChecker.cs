using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>
/// Verifies a Rafs image end to end: the bootstrap (already checked against the manifest and validated when
/// opened), every blob against its OCI digest, and every chunk against its chunk digest. A bad chunk is
/// reported by the files and offsets that use it.
/// </summary>
public sealed class ImageChecker(IProgress<string>? progress = null)
{
    public async Task<IReadOnlyList<string>> CheckAsync(RafsImage image, CancellationToken cancellationToken)
    {
        var bootstrap = image.Bootstrap;
        var problems = new List<string>();
        var blobPaths = new Dictionary<uint, string>();
        for (uint b = 0; b < bootstrap.BlobCount; b++)
        {
            var blob = bootstrap.GetBlob(b);
            progress?.Report($"checking blob {b + 1}/{bootstrap.BlobCount} {blob.Digest[..19]}");
            var (path, problem) = await image.DownloadBlobForCheckAsync(blob, cancellationToken).ConfigureAwait(false);
            if (problem is not null)
                problems.Add(problem);
            blobPaths[b] = path;
        }

        var badChunks = new Dictionary<uint, string>();
        using (var reader = new ChunkFileReader(bootstrap, blobPaths))
        {
            for (uint c = 0; c < bootstrap.ChunkCount; c++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    reader.ReadChunk(c, $"chunk {c}");
                }
                catch (P2PDistException e)
                {
                    badChunks[c] = e.Message;
                }
            }
        }
        if (badChunks.Count > 0)
            problems.AddRange(DescribeBadChunks(bootstrap, badChunks));
        return problems;
    }

    private static IEnumerable<string> DescribeBadChunks(RafsBootstrap bootstrap, Dictionary<uint, string> badChunks)
    {
        var users = badChunks.Keys.ToDictionary(c => c, _ => new List<string>());
        foreach (var (path, ino) in bootstrap.Walk())
        {
            var (start, count) = bootstrap.ChunkRefRange(ino);
            for (uint i = start; i < start + count; i++)
            {
                var chunkRef = bootstrap.GetChunkRef(i);
                if (users.TryGetValue(chunkRef.ChunkIndex, out var list))
                    list.Add($"/{path} at offset {chunkRef.FileOffset}");
            }
        }
        foreach (var (chunk, reason) in badChunks.OrderBy(kv => kv.Key))
        {
            var chunkInfo = bootstrap.GetChunk(chunk);
            string where = users[chunk].Count == 0 ? "no file" : string.Join(", ", users[chunk].Take(10)) + (users[chunk].Count > 10 ? $" and {users[chunk].Count - 10} more" : "");
            yield return $"bad chunk {chunk} ({chunkInfo.Digest}, blob {bootstrap.GetBlob(chunkInfo.BlobIndex).Digest} bytes {chunkInfo.CompressedOffset}+{chunkInfo.CompressedSize}) used by {where}: {reason}";
        }
    }
}
