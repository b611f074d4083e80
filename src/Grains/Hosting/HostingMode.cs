namespace Catalogs.Grains.Hosting;

/// <summary>One process with everything in it and files on its disk, or a cluster of silos sharing Redis
/// (membership) and PostgreSQL (durable state).</summary>
public enum HostingMode { Embedded, Cluster }
